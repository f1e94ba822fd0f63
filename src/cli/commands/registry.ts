import type { Command } from 'commander';

export function registerRegistryCommands(program: Command): void {
  void program;
}

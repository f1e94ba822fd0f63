import type { Command } from 'commander';

export function registerRunCommands(program: Command): void {
  void program;
}

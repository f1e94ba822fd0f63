import type { Command } from 'commander';

export function registerCloudInitCommands(program: Command): void {
  void program;
}

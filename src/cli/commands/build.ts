import type { Command } from 'commander';

export function registerBuildCommands(program: Command): void {
  void program;
}

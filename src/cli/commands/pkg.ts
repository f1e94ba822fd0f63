import type { Command } from 'commander';

export function registerPkgCommands(program: Command): void {
  void program;
}

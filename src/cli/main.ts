#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { CoracleError } from '../errors.js';
import { registerSpecCommands } from './commands/spec.js';
import { registerImageCommands } from './commands/images.js';
import { registerRegistryCommands } from './commands/registry.js';
import { registerPkgCommands } from './commands/pkg.js';
import { registerBuildCommands } from './commands/build.js';
import { registerRunCommands } from './commands/run.js';
import { registerCloudInitCommands } from './commands/cloud-init.js';
import { registerKernelCommands } from './commands/kernel.js';

export function createProgram(): Command {
  const program = new Command('coracle')
    .description('Build minimal container-host operating systems from YAML system specs')
    .version('0.1.0')
    .option('--cache <dir>', 'local image store (default $CORACLE_CACHE, $XDG_CACHE_HOME/coracle or ~/.cache/coracle)')
    .showHelpAfterError()
    .exitOverride();
  registerSpecCommands(program);
  registerRegistryCommands(program);
  registerImageCommands(program);
  registerPkgCommands(program);
  registerBuildCommands(program);
  registerRunCommands(program);
  registerCloudInitCommands(program);
  registerKernelCommands(program);
  return program;
}

/** Run the CLI; returns the exit code. Errors never reach the user as stack traces. */
export async function main(argv: string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof CoracleError) {
      process.stderr.write(`coracle: ${e.message}\n`);
      return e.exitCode;
    }
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`coracle: internal error: ${msg}\n`);
    if (process.env.CORACLE_DEBUG && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 70;
  }
}

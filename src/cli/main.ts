#!/usr/bin/env node
import type { Command } from 'commander';
import { CoracleError } from '../errors.js';
import { VERSION } from './version.js';
import { commandName } from './command-name.js';
import { traceMark } from '../progress/trace.js';

export { commandName };

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs (or for help,
 * which lists them all): start-up then costs commander and one small file.
 */
const spec = async (): Promise<Register> => (await import('./commands/spec.js')).registerSpecCommands;
const registry = async (): Promise<Register> => (await import('./commands/registry.js')).registerRegistryCommands;
const images = async (): Promise<Register> => (await import('./commands/images.js')).registerImageCommands;
const COMMANDS: Record<string, () => Promise<Register>> = {
  validate: spec,
  pull: registry,
  push: registry,
  inspect: registry,
  images,
  cache: images,
  pkg: async () => (await import('./commands/pkg.js')).registerPkgCommands,
  build: async () => (await import('./commands/build.js')).registerBuildCommands,
  run: async () => (await import('./commands/run.js')).registerRunCommands,
  'cloud-init': async () => (await import('./commands/cloud-init.js')).registerCloudInitCommands,
  kernel: async () => (await import('./commands/kernel.js')).registerKernelCommands,
  test: async () => (await import('./commands/test.js')).registerTestCommands,
  logs: async () => (await import('./commands/logs.js')).registerLogsCommands,
};

/** The program with the commands `argv` needs: the one it names, or all of them (help, an unknown word). */
export async function createProgram(argv: readonly string[] = []): Promise<Command> {
  const { Command } = await import('commander');
  const program = new Command('coracle')
    .description('Build minimal container-host operating systems from YAML system specs')
    .version(VERSION)
    .option('--cache <dir>', 'local image store (default $CORACLE_CACHE, $XDG_CACHE_HOME/coracle or ~/.cache/coracle)')
    .showHelpAfterError()
    .exitOverride();
  const name = commandName(argv);
  const wanted = name !== undefined && COMMANDS[name] ? [COMMANDS[name]] : [...new Set(Object.values(COMMANDS))];
  for (const register of await Promise.all(wanted.map((load) => load()))) register(program);
  return program;
}

/** Run the CLI; returns the exit code. Errors never reach the user as stack traces. */
export async function main(argv: string[]): Promise<number> {
  traceMark('cli: main');
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const { CommanderError } = await import('commander');
  try {
    const program = await createProgram(argv);
    traceMark('cli: commands registered');
    await program.parseAsync(argv, { from: 'user' });
    traceMark('cli: command done');
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

import { describe, expect, it } from 'vitest';
import { commandName } from '../../src/cli/main.js';
import { VERSION } from '../../src/cli/version.js';
import { runCli } from '../helpers/cli.js';

describe('coracle CLI', () => {
  it('prints help and exits 0', async () => {
    const r = await runCli(['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('Usage: coracle');
  });
  it('rejects an unknown command with a non-zero exit and no stack trace', async () => {
    const r = await runCli(['no-such-command']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
  it('--version prints the version without loading any command', async () => {
    const r = await runCli(['--version']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });
  it('finds the command word after global options (only its module is loaded)', () => {
    expect(commandName(['build', 'x.yml'])).toBe('build');
    expect(commandName(['--cache', '/s', 'pkg', 'build'])).toBe('pkg');
    expect(commandName(['--cache=/s', 'images'])).toBe('images');
    expect(commandName(['--help'])).toBeUndefined();
    expect(commandName([])).toBeUndefined();
  });
});

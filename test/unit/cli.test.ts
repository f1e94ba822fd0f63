import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  it('coracle logs: one-line errors without a running VM, or an agent that never answers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coracle-logs-cli-'));
    try {
      const none = await runCli(['logs', 'web', '--state', dir]);
      expect(none.exitCode).toBe(1);
      expect(none.stderr.trim()).toBe(`coracle: no running VM: ${join(dir, 'control.sock')} does not exist (coracle run qemu serves it while the VM runs)`);
      // a socket nobody answers on (a guest without the agent)
      const server = createServer(() => undefined);
      await new Promise<void>((r) => server.listen(join(dir, 'control.sock'), r));
      try {
        const deaf = await runCli(['logs', 'web', '--state', dir, '--timeout', '1']);
        expect(deaf.exitCode).toBe(1);
        expect(deaf.stderr.trim()).toMatch(/^coracle: the guest agent did not answer within 1 s \(/);
        expect(deaf.stderr).not.toMatch(/\n\s+at /);
      } finally {
        server.close();
      }
      const bad = await runCli(['logs', 'web', '--state', dir, '--tail', 'lots']);
      expect(bad.stderr.trim()).toBe('coracle: --tail lots: expected a number');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

import { describe, expect, it } from 'vitest';
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
});

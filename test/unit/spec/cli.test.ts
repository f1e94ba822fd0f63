import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { conformanceRoot, runCli } from '../../helpers/cli.js';

const VALID = 'test/fixtures/specs/valid';
const INVALID = 'test/fixtures/specs/invalid';
const RW_ON_RO = join(conformanceRoot, 'linuxkit/test/cases/000_build/070_volumes/002_rw_on_ro/test.yml');

/** stderr without npm's own chatter about the environment */
const clean = (s: string) => s.split('\n').filter((l) => l !== '' && !l.startsWith('npm warn')).join('\n');

describe('coracle validate', () => {
  it('prints OK and exits 0 for a valid spec', async () => {
    const r = await runCli(['validate', join(conformanceRoot, 'linuxkit/linuxkit.yml')]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('OK');
    expect(clean(r.stderr)).toBe('');
  });

  it('prints warnings on stderr and still succeeds', async () => {
    const r = await runCli(['validate', `${VALID}/base.yml`, `${INVALID}/../valid/every-key.yml`, '-'], {
      input: 'trust:\n  org: [linuxkit]\n',
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('OK');
    expect(clean(r.stderr)).toBe(
      '-:1:1: warning: trust: ignored: Coracle does not use Docker Content Trust; pin images by digest (name@sha256:...) instead',
    );
  });

  it('prints every error as FILE:LINE:COL and exits 1, without a stack trace', async () => {
    const file = `${INVALID}/several-errors.yml`;
    const r = await runCli(['validate', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    expect(clean(r.stderr).split('\n')).toEqual([
      `${file}:3:3: kernel: unknown key "cmdine"; did you mean "cmdline"?`,
      `${file}:6:5: init[1]: invalid image reference "": empty`,
      `${file}:10:15: onboot[0].readonly: expected true or false, got the string "yes"`,
      `${file}:14:18: services[0].oomScoreAdj: must be at most 1000, got the number 2000`,
      `${file}:16:5: files[0]: file "etc/issue" needs one of "contents", "source", "directory", "symlink" or "metadata"`,
      `coracle: 5 errors in ${file}`,
    ]);
  });

  it("fails LinuxKit's rw-on-ro volume test with a clear message", async () => {
    const r = await runCli(['validate', RW_ON_RO]);
    expect(r.exitCode).toBe(1);
    expect(clean(r.stderr)).toBe(
      `${RW_ON_RO}:12:9: onboot[0].binds[1]: bind "vola:/vola": volume "vola" is read-only (declared at 18:5) but is mounted read-write at /vola; add the "ro" option\n` +
        `coracle: 1 error in ${RW_ON_RO}`,
    );
  });

  it('merges several files: a volume declared in one is usable in the next', async () => {
    const overlay = `${VALID}/overlay.yml`;
    const alone = await runCli(['validate', overlay]);
    expect(alone.exitCode).toBe(1);
    const merged = await runCli(['validate', `${VALID}/base.yml`, overlay]);
    expect(merged.exitCode).toBe(0);
    expect(merged.stdout).toBe('OK');
  });

  it('prints the merged spec as JSON with --json', async () => {
    const r = await runCli(['validate', '--json', `${VALID}/base.yml`, `${VALID}/overlay.yml`]);
    expect(r.exitCode).toBe(0);
    const spec = JSON.parse(r.stdout);
    expect(spec.kernel.image).toBe('linuxkit/kernel:6.12.59');
    expect(spec.services.map((s: { name: string }) => s.name)).toEqual(['getty', 'app']);
  });

  it('reports a missing file in one line and exits 1', async () => {
    const r = await runCli(['validate', 'nope.yml']);
    expect(r.exitCode).toBe(1);
    expect(clean(r.stderr)).toBe('coracle: cannot read spec nope.yml: no such file');
  });

  it('needs at least one spec', async () => {
    const r = await runCli(['validate']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toContain("missing required argument 'spec'");
  });
});

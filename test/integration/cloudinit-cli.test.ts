import { execa } from 'execa';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conformanceRoot, projectRoot, runCli } from '../helpers/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-ci-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('coracle cloud-init validate', () => {
  it('prints OK and exits 0 for a valid file, with warnings listed', async () => {
    const file = join(conformanceRoot, 'cloud-init', 'doc-examples', 'cloud-config-user-groups.txt');
    const r = await runCli(['cloud-init', 'validate', file]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${file}: OK \\(\\d+ warnings?\\)$`, 'm'));
    expect(r.stdout).toMatch(/: warning: /);
    expect(r.stderr).toBe('');
  });

  it('prints FILE:LINE:COL: path: message and exits 1 on errors', async () => {
    const file = join(projectRoot, 'test', 'fixtures', 'cloud-init', 'invalid', 'users-lock-passwd-string.yaml');
    const r = await runCli(['cloud-init', 'validate', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`${file}:5:18: users[1].lock_passwd: expected a boolean, got a string "false"`);
    expect(r.stdout).toMatch(/: 1 error, \d+ warnings?$/m);
    expect(r.stderr).not.toMatch(/at .*\.ts/);
  });

  it('exits 1 with --strict when there are only warnings', async () => {
    const file = join(dir, 'warn.yaml');
    await writeFile(file, '#cloud-config\npackages: [vim]\n');
    expect((await runCli(['cloud-init', 'validate', file])).exitCode).toBe(0);
    expect((await runCli(['cloud-init', 'validate', '--strict', file])).exitCode).toBe(1);
  });

  it('says which file it cannot read', async () => {
    const r = await runCli(['cloud-init', 'validate', join(dir, 'missing.yaml')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`coracle: cannot read user-data ${join(dir, 'missing.yaml')}: no such file`);
  });
});

describe('coracle cloud-init seed', () => {
  it('writes an ISO seed, and a FAT one with --vfat', async () => {
    const ud = join(dir, 'ud.yaml');
    const md = join(dir, 'md.yaml');
    await writeFile(ud, '#cloud-config\nhostname: cli\n');
    await writeFile(md, 'instance-id: iid-cli\n');
    const iso = join(dir, 'seed.iso');
    const r = await runCli(['cloud-init', 'seed', '--user-data', ud, '--meta-data', md, '-o', iso]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`wrote ${iso} (ISO9660 cidata, instance-id iid-cli)`);
    expect((await execa('isoinfo', ['-d', '-i', iso])).stdout).toMatch(/^Volume id: cidata$/m);
    const img = join(dir, 'seed.img');
    const v = await runCli(['cloud-init', 'seed', '--user-data', ud, '--vfat', '--state', join(dir, 'state'), '-o', img]);
    expect(v.exitCode).toBe(0);
    expect(v.stdout).toMatch(/FAT CIDATA, instance-id iid-[0-9a-f]{16}, generated/);
    expect((await execa('mdir', ['-i', img, '::/'], { env: { MTOOLS_SKIP_CHECK: '1' } })).stdout).toMatch(/is CIDATA/);
  });

  it('refuses invalid user-data: exit 1, errors with positions, no image', async () => {
    const ud = join(dir, 'bad.yaml');
    await writeFile(ud, '#cloud-config\nruncmd: echo hi\n');
    const out = join(dir, 'bad.iso');
    const r = await runCli(['cloud-init', 'seed', '--user-data', ud, '-o', out]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`coracle: ${ud}:2:9: runcmd: expected a list, got a string "echo hi"`);
    expect((await readdir(dir)).some((f) => f.startsWith('bad.iso') || f.startsWith('.bad.iso'))).toBe(false);
  });
});

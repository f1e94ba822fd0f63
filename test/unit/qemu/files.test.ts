import { execa } from 'execa';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDisk } from '../../../src/qemu/disk.js';
import { resolveImage } from '../../../src/qemu/image.js';
import { makeSeedIso, seedIsoFromFile } from '../../../src/qemu/seed.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-qemu-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function outputs(d: string, name: string, vmlinux = false): Promise<void> {
  await mkdir(d, { recursive: true });
  await writeFile(join(d, `${name}-kernel`), 'k');
  await writeFile(join(d, `${name}-initrd.img`), 'i');
  await writeFile(join(d, `${name}-cmdline`), 'console=ttyS0 quiet\n');
  if (vmlinux) await writeFile(join(d, `${name}-vmlinux`), 'v');
}

describe('resolveImage', () => {
  it('finds NAME-* by prefix, by folder and by spec name', async () => {
    const out = join(dir, 'out');
    await outputs(out, 'web', true);
    const byPrefix = await resolveImage(join(out, 'web'));
    expect(byPrefix).toMatchObject({ name: 'web', kernel: join(out, 'web-kernel'), initrd: join(out, 'web-initrd.img'), vmlinux: join(out, 'web-vmlinux') });
    expect(byPrefix.cmdline).toBe('console=ttyS0 quiet');
    expect((await resolveImage('out', dir)).name).toBe('web');
    expect((await resolveImage(join(out, 'web.yml'))).initrd).toBe(join(out, 'web-initrd.img'));
    await outputs(out, 'min');
    expect((await resolveImage(join(out, 'min'))).vmlinux).toBeUndefined();
  });
  it('says what is missing', async () => {
    await expect(resolveImage(join(dir, 'nothing'))).rejects.toThrow(/nothing-kernel and .*nothing-initrd.img.*coracle build/);
    await expect(resolveImage(join(dir, 'out'))).rejects.toThrow(/several images here \(.*min.*web/);
    await mkdir(join(dir, 'empty'));
    await expect(resolveImage(join(dir, 'empty'))).rejects.toThrow(/no NAME-initrd.img/);
    await expect(resolveImage(join(dir, 'x.yml'))).rejects.toThrow(/no x-kernel/);
  });
});

describe('ensureDisk', () => {
  it('creates a missing disk with qemu-img and leaves an existing one alone', async () => {
    const p = join(dir, 'disks', 'a.qcow2');
    await ensureDisk({ path: p, format: 'qcow2', size: '64M' });
    const info = JSON.parse(String((await execa('qemu-img', ['info', '--output=json', p])).stdout)) as { format: string; 'virtual-size': number };
    expect(info.format).toBe('qcow2');
    expect(info['virtual-size']).toBe(64 * 1024 * 1024);
    await ensureDisk({ path: p, format: 'qcow2', size: '128M' });
    const again = JSON.parse(String((await execa('qemu-img', ['info', '--output=json', p])).stdout)) as { 'virtual-size': number };
    expect(again['virtual-size']).toBe(64 * 1024 * 1024);
  });
});

describe('seed ISO', () => {
  it('is a cidata ISO with user-data and meta-data', async () => {
    const iso = join(dir, 'seed.iso');
    await makeSeedIso(iso, { userData: '#cloud-config\nhostname: sea\n', metaData: 'instance-id: i-1\n' });
    const pvd = String((await execa('xorriso', ['-indev', iso, '-pvd_info'], { all: true })).all);
    expect(pvd).toMatch(/Volume Id\s*:\s*cidata/);
    const ud = await execa('xorriso', ['-indev', iso, '-osirrox', 'on', '-extract', '/user-data', join(dir, 'ud')], { reject: false });
    expect(ud.exitCode).toBe(0);
    expect(await readFile(join(dir, 'ud'), 'utf8')).toContain('hostname: sea');
  });
  it('names a missing user-data file', async () => {
    await expect(seedIsoFromFile(join(dir, 's2.iso'), join(dir, 'missing.yml'))).rejects.toThrow(/--data .*missing.yml: no such file/);
  });
  it('--user-data is validated (FILE:LINE:COL, nothing written), --data is attached as given', async () => {
    const bad = join(dir, 'bad.yml');
    await writeFile(bad, '#cloud-config\nusers: 42\n');
    const out = join(dir, 's3.iso');
    await expect(seedIsoFromFile(out, bad, { validate: true })).rejects.toThrow(/bad\.yml:\d+:\d+/);
    await expect(readFile(out)).rejects.toThrow(/ENOENT/);
    await seedIsoFromFile(out, bad);
    expect((await readFile(out)).length).toBeGreaterThan(0);
  });
});

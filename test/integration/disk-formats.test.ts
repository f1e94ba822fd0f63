/**
 * The bootable formats as files, through the CLI with fixture images (the
 * boot tests boot them: test/boot/formats.test.ts): every format written
 * in one build, byte-identical across two builds with separate caches,
 * SOURCE_DATE_EPOCH in the dates, ids derived from the content, what each
 * file holds as Debian's own readers see it (sfdisk, xorriso, objdump,
 * mtools, qemu-img, tar), and the one-line errors with nothing left behind.
 * The "kernel" is a PE file (systemd's EFI stub) so the EFI formats build;
 * it boots nothing.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, mkdir, mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/oci/store/layout-store.js';
import { writeOutputs } from '../../src/outputs/index.js';
import { requireTools } from '../../src/outputs/disk/tools.js';
import { detectImage } from '../../src/qemu/boot-image.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { layerTar, writeImage } from '../helpers/oci-fixtures.js';

const STUB = '/usr/lib/systemd/boot/efi/linuxx64.efi.stub';
const ALL = ['uki', 'iso-efi', 'iso-bios', 'raw-efi', 'raw-bios', 'qcow2-efi', 'qcow2-bios', 'vhd', 'vmdk', 'gcp', 'aws'];
const FILES = ['d.efi', 'd-efi.iso', 'd.iso', 'd-efi.img', 'd-bios.img', 'd-efi.qcow2', 'd.qcow2', 'd.vhd', 'd.vmdk', 'd.img.tar.gz', 'd.raw'];
const EPOCH = 1700000000;

let dir: string;
let spec: string;
let noStub: string;

function specText(kernel: string): string {
  return `kernel:
  image: ${kernel}
  cmdline: "console=ttyS0 coracle.marker=disk-test"
init:
  - fx/init:1
files:
  - path: etc/motd
    contents: "hello\\n"
`;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-disk-formats-'));
  for (const s of ['store-a', 'store-b']) {
    const store = await openStore(join(dir, s));
    const modules = await layerTar([{ path: 'lib/modules/6.1.0-test/modules.dep', data: '' }]);
    await writeImage(store, 'fx/kernel:1', { layers: [{ entries: [{ path: 'kernel', data: await readFile(STUB) }, { path: 'kernel.tar', data: modules }] }] });
    await writeImage(store, 'fx/kernel:nostub', { layers: [{ entries: [{ path: 'kernel', data: 'bzImage-without-pe'.repeat(100) }, { path: 'kernel.tar', data: modules }] }] });
    await writeImage(store, 'fx/init:1', { layers: [{ entries: [{ path: 'init', data: '#!/bin/sh\necho hi\n', mode: 0o755 }, { path: 'etc', type: 'dir', mode: 0o755 }] }] });
  }
  spec = join(dir, 'd.yml');
  await writeFile(spec, specText('fx/kernel:1'));
  noStub = join(dir, 'nostub.yml');
  await writeFile(noStub, specText('fx/kernel:nostub'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function build(store: string, out: string, formats: string[], env: Record<string, string> = {}, file = spec): Promise<CliResult> {
  return runCli(['--cache', join(dir, store), 'build', file, '-o', out, '--name', 'd', ...formats.flatMap((f) => ['--format', f])], {
    env: { SOURCE_DATE_EPOCH: String(EPOCH), ...env },
    timeout: 600_000,
  });
}
function ok(r: CliResult): CliResult {
  if (r.exitCode !== 0) throw new Error(`build failed (${r.exitCode}): ${r.stderr}`);
  return r;
}
async function sums(out: string): Promise<Record<string, string>> {
  const o: Record<string, string> = {};
  for (const n of (await readdir(out)).sort()) o[n] = createHash('sha256').update(await readFile(join(out, n))).digest('hex');
  return o;
}
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });

describe('coracle build --format (every disk format)', () => {
  let out: string;
  beforeAll(async () => {
    out = join(dir, 'out-a');
    ok(await build('store-a', out, ALL));
  });

  it('writes one file per format, LinuxKit names, and nothing else but NAME-images.json', async () => {
    expect((await readdir(out)).sort()).toEqual([...FILES, 'd-images.json'].sort());
  });

  it('two builds with separate caches give the same bytes for every format', async () => {
    const other = join(dir, 'out-b');
    ok(await build('store-b', other, ALL));
    const a = await sums(out);
    const b = await sums(other);
    expect(Object.keys(b).filter((f) => b[f] !== a[f]), 'files whose bytes differ').toEqual([]);
    expect(b).toEqual(a);
  });

  it('a rebuild is served from the image cache and rewrites nothing', async () => {
    const before = await sums(out);
    const r = ok(await build('store-a', out, ALL));
    expect(r.stdout.trim().split('\n').length).toBe(FILES.length + 1);
    expect(await sums(out)).toEqual(before);
  });

  it('SOURCE_DATE_EPOCH dates the images: another epoch, other bytes; the UKI header carries it', async () => {
    const other = join(dir, 'out-epoch');
    ok(await build('store-b', other, ['uki', 'iso-efi'], { SOURCE_DATE_EPOCH: String(EPOCH + 86400) }));
    const a = await sums(out);
    const b = await sums(other);
    expect(b['d.efi']).not.toBe(a['d.efi']);
    expect(b['d-efi.iso']).not.toBe(a['d-efi.iso']);
    expect(sh('objdump', ['-p', join(out, 'd.efi')])).toMatch(/Time\/Date\s+Tue Nov 14 22:13:20 2023/);
  });

  it('uki: the EFI stub with .osrel, .cmdline, .linux and .initrd, the spec cmdline inside', async () => {
    const h = sh('objdump', ['-h', join(out, 'd.efi')]);
    for (const s of ['.osrel', '.cmdline', '.linux', '.initrd']) expect(h).toContain(` ${s} `);
    const section = async (name: string) => {
      const f = join(dir, `section${name}`);
      execFileSync('objcopy', ['-O', 'binary', `--only-section=${name}`, join(out, 'd.efi'), f]);
      return readFile(f, 'utf8');
    };
    expect(await section('.cmdline')).toBe('console=ttyS0 coracle.marker=disk-test');
    expect(await section('.osrel')).toContain('ID=coracle');
    expect(await detectImage(join(out, 'd.efi'))).toEqual({ kind: 'uki', uefiOnly: true });
  });

  it('raw-efi: a GPT with one ESP, GUIDs derived from the content (not random, not shared with another system)', async () => {
    const t = JSON.parse(sh('sfdisk', ['--json', join(out, 'd-efi.img')])).partitiontable;
    expect(t.label).toBe('gpt');
    expect(t.partitions).toHaveLength(1);
    expect(t.partitions[0].type).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(t.partitions[0].start).toBe(2048);
    expect(t.id).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$/);
    // a different system (other cmdline) gets other ids
    const spec2 = join(dir, 'd2.yml');
    await writeFile(spec2, specText('fx/kernel:1').replace('disk-test', 'other'));
    const out2 = join(dir, 'out-other');
    ok(await build('store-a', out2, ['raw-efi'], {}, spec2));
    const t2 = JSON.parse(sh('sfdisk', ['--json', join(out2, 'd-efi.img')])).partitiontable;
    expect(t2.id).not.toBe(t.id);
    expect(t2.partitions[0].uuid).not.toBe(t.partitions[0].uuid);
    // the ESP holds the UKI as the removable-media boot path
    const esp = join(dir, 'esp.fat');
    execFileSync('dd', [`if=${join(out, 'd-efi.img')}`, `of=${esp}`, 'bs=512', 'skip=2048', `count=${t.partitions[0].size}`, 'status=none']);
    expect(sh('mdir', ['-i', esp, '-b', '::EFI/BOOT'])).toContain('BOOTX64.EFI');
    execFileSync('mcopy', ['-i', esp, '::EFI/BOOT/BOOTX64.EFI', join(dir, 'bootx64.efi')]);
    expect(createHash('sha256').update(await readFile(join(dir, 'bootx64.efi'))).digest('hex')).toBe((await sums(out))['d.efi']);
    expect(await detectImage(join(out, 'd-efi.img'))).toEqual({ kind: 'raw', uefiOnly: true });
  });

  it('raw-bios: an MBR disk, one bootable FAT partition with SYSLINUX, its config holding the cmdline', async () => {
    const img = join(out, 'd-bios.img');
    const t = JSON.parse(sh('sfdisk', ['--json', img])).partitiontable;
    expect(t.label).toBe('dos');
    expect(t.partitions).toMatchObject([{ start: 2048, type: 'c', bootable: true }]);
    // SYSLINUX's MBR boot code in the first 440 bytes
    const mbr = await readFile('/usr/lib/syslinux/mbr/mbr.bin');
    expect((await readFile(img)).subarray(0, 440).equals(mbr.subarray(0, 440))).toBe(true);
    const part = `${img}@@${2048 * 512}`;
    const listing = sh('mdir', ['-i', part, '-a', '-b', '::']);
    for (const f of ['KERNEL', 'INITRD.IMG', 'SYSLINUX.CFG', 'LDLINUX.SYS', 'LDLINUX.C32']) expect(listing.toUpperCase()).toContain(f);
    const cfg = sh('mtype', ['-i', part, '::syslinux.cfg']);
    expect(cfg).toMatch(/APPEND console=ttyS0 coracle\.marker=disk-test/);
    expect(cfg).toMatch(/SERIAL 0 115200/);
    expect(await detectImage(img)).toEqual({ kind: 'raw', uefiOnly: false });
  });

  it('iso-bios is hybrid (ISOLINUX for BIOS, the EFI image for UEFI, MBR+GPT for USB); iso-efi has the EFI entry only', async () => {
    const bios = sh('xorriso', ['-indev', join(out, 'd.iso'), '-report_el_torito', 'plain']);
    expect(bios).toMatch(/El Torito boot img :\s+1\s+BIOS/);
    expect(bios).toMatch(/El Torito boot img :\s+2\s+UEFI/);
    execFileSync('xorriso', ['-osirrox', 'on', '-indev', join(out, 'd.iso'), '-extract', '/isolinux/isolinux.cfg', join(dir, 'isolinux.cfg')], { stdio: 'ignore' });
    const cfg = await readFile(join(dir, 'isolinux.cfg'), 'utf8');
    expect(cfg).toMatch(/APPEND console=ttyS0 coracle\.marker=disk-test/);
    expect(sh('sfdisk', ['-d', join(out, 'd.iso')])).toMatch(/type=ef/);
    const efi = sh('xorriso', ['-indev', join(out, 'd-efi.iso'), '-report_el_torito', 'plain']);
    expect(efi).toMatch(/El Torito boot img :\s+1\s+UEFI/);
    expect(efi).not.toMatch(/BIOS/);
    expect(await detectImage(join(out, 'd.iso'))).toEqual({ kind: 'iso', uefiOnly: false });
    expect(await detectImage(join(out, 'd-efi.iso'))).toEqual({ kind: 'iso', uefiOnly: true });
    // volume dates are the epoch
    expect(sh('xorriso', ['-indev', join(out, 'd.iso'), '-pvd_info'])).toMatch(/Creation Time:\s+2023111422132000/);
  });

  it('qcow2, vhd and vmdk hold the raw disks (qemu-img compare), gcp holds disk.raw, aws is the raw disk', async () => {
    // (a fixed VHD is raw bytes and a footer: qemu-img probes it as raw, so it is named)
    const cmp = (a: string, b: string, fmt: string[] = []) => execFileSync('qemu-img', ['compare', '-q', ...fmt, join(out, a), join(out, b)]);
    cmp('d-efi.qcow2', 'd-efi.img');
    cmp('d.qcow2', 'd-bios.img');
    cmp('d.vhd', 'd-bios.img', ['-f', 'vpc', '-F', 'raw']);
    cmp('d.vmdk', 'd-bios.img');
    const info = (f: string) => JSON.parse(sh('qemu-img', ['info', '--output=json', join(out, f)])).format;
    expect([info('d.qcow2'), info('d.vmdk')]).toEqual(['qcow2', 'vmdk']);
    const vhd = JSON.parse(sh('qemu-img', ['info', '--output=json', '-f', 'vpc', join(out, 'd.vhd')]));
    expect(vhd['virtual-size']).toBe((await readFile(join(out, 'd-bios.img'))).length);
    // the VMDK names its own extent file
    expect((await readFile(join(out, 'd.vmdk'))).subarray(0, 4096).toString('latin1')).toContain('SPARSE "d.vmdk"');
    const s = await sums(out);
    expect(s['d.raw']).toBe(s['d-bios.img']);
    const tar = gunzipSync(await readFile(join(out, 'd.img.tar.gz')));
    expect(tar.toString('latin1', 0, 8)).toBe('disk.raw');
    const raw = await readFile(join(out, 'd-bios.img'));
    expect(tar.subarray(512, 512 + raw.length).equals(raw)).toBe(true);
    expect(await detectImage(join(out, 'd.vhd'))).toEqual({ kind: 'vhd', uefiOnly: false });
    expect(await detectImage(join(out, 'd-efi.qcow2'))).toEqual({ kind: 'qcow2', uefiOnly: true });
  });
});

describe('bad input: one line, nothing half-written', () => {
  it('an unknown format is named with the list', async () => {
    const r = await build('store-a', join(dir, 'out-bad'), ['iso-foo']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/--format: unknown format "iso-foo" \(one of kernel\+initrd, tar, uki, iso-efi, iso-bios/);
  });

  it('an EFI format with a kernel that has no EFI stub is refused before any work; BIOS formats still build', async () => {
    const out = join(dir, 'out-nostub');
    const r = await build('store-a', out, ['raw-bios', 'raw-efi'], {}, noStub);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/format raw-efi boots through UEFI, but kernel image fx\/kernel:nostub has no EFI stub \(CONFIG_EFI_STUB\)/);
    expect(await readdir(out).catch(() => [])).toEqual([]);
    ok(await build('store-a', out, ['raw-bios'], {}, noStub));
  });

  it('a missing Debian tool is named with the package to install', async () => {
    const r = await build('store-a', join(dir, 'out-tool'), ['iso-bios'], { PATH: join(dir, 'empty-path') });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^coracle: format iso-bios needs objcopy, which is not installed: apt-get install binutils$/m);
    expect(() => requireTools('iso-bios', ['xorriso'], ['/nonexistent'])).toThrow('format iso-bios needs xorriso, which is not installed: apt-get install xorriso');
  });

  it('a failure in one format leaves none of the images in the folder, and an existing image untouched', async () => {
    const out = join(dir, 'out-fail');
    await mkdir(out);
    await writeFile(join(out, 'f-bios.img'), 'old image');
    const kernel = join(dir, 'kernel.pe');
    await copyFile(STUB, kernel);
    // raw-bios is made and staged, then the tar format fails (no root filesystem given)
    await expect(
      writeOutputs(out, ['raw-bios', 'uki', 'tar'], { name: 'f', cmdline: 'console=ttyS0', segments: [], kernel, diskCacheDir: join(dir, 'fail-cache'), mtime: EPOCH }),
    ).rejects.toThrow(/tar output without a root filesystem/);
    expect(await readdir(out)).toEqual(['f-bios.img']);
    expect(await readFile(join(out, 'f-bios.img'), 'utf8')).toBe('old image');
  });
});

/**
 * `coracle kernel check` against real kernels: Debian's cloud kernel
 * (images/kernel), the lean kernel's fragments merged over allnoconfig by
 * the kernel's own merge_config.sh, and a real config with one required
 * option taken out. The compiled lean kernel image is checked by
 * kernel-lean.test.ts.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/oci/store/layout-store.js';
import { aptFor, planPackage } from '../../src/pkg/build.js';
import { projectRoot, runCli } from '../helpers/cli.js';
import { ensureSystemImages, systemStore } from '../helpers/system.js';

const FRAGMENTS = ['base', 'container', 'vm'].map((n) => join(projectRoot, 'kernel-config', `${n}.config`));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-kernel-check-'));
  await ensureSystemImages(['kernel']);
}, 15 * 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

const check = (arg: string) => runCli(['--cache', systemStore(), 'kernel', 'check', arg]);

describe('coracle kernel check', () => {
  it("passes Debian's cloud kernel (modules count), printing the groups", async () => {
    const r = await check('images/kernel');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^kernel config: docker\.io\/coracle\/kernel:\w+ \/kernel\.config\n\nRequired:\n- namespaces \(5\/5\)/);
    expect(r.stdout).toMatch(/CONFIG_OVERLAY_FS +module/);
    expect(r.stdout).toMatch(/\nrequired: (\d+)\/\1; recommended: /);
  });

  it('fails a real config with one required option removed, naming it; a bad file is a one-line error', async () => {
    // the cloud kernel's own config, minus CONFIG_VETH
    const edited = join(dir, 'cloud-without-veth.config');
    const text = await cloudConfig();
    expect(text).toMatch(/^CONFIG_VETH=m$/m);
    await writeFile(edited, text.replace(/^CONFIG_VETH=m$/m, '# CONFIG_VETH is not set'));
    const r = await check(edited);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/CONFIG_VETH +MISSING/);
    expect(r.stdout).toMatch(/\nrequired: (\d+)\/\d+ \(missing: VETH\);/);
    expect(r.stderr.trim()).toBe(`coracle: ${edited}: missing required kernel options: CONFIG_VETH`);

    const junk = join(dir, 'junk.txt');
    await writeFile(junk, 'not a config\n');
    const bad = await check(junk);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr.trim()).toBe(`coracle: ${junk}: not a kernel config (no CONFIG_ lines)`);
  });

  it("the kernel-config/ fragments merged over allnoconfig by the kernel's merge_config.sh lose no option and pass", async () => {
    const store = await openStore(systemStore());
    const plan = await planPackage(join(projectRoot, 'images', 'kernel-lean'), { store });
    const [deb] = await aptFor({ store }, plan.platform).download(plan.packages);
    const tree = join(dir, 'src');
    await execa('sh', ['-ec', `mkdir -p "$2"; dpkg-deb --fsys-tarfile "$1" | tar -xOf - --wildcards './usr/src/linux-source-*.tar.xz' | tar -xJf - -C "$2" --strip-components=1`, 'sh', deb!, tree]);
    const merged = await execa(join(tree, 'scripts', 'kconfig', 'merge_config.sh'), ['-n', ...FRAGMENTS], { cwd: tree, all: true, reject: false });
    expect(merged.exitCode, merged.all).toBe(0);
    expect(merged.all).not.toContain('not in final .config');
    const r = await check(join(tree, '.config'));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\nrequired: (\d+)\/\1; recommended: /);
    // what boots the VM is built in, not a module
    for (const o of ['VIRTIO_PCI', 'VIRTIO_NET', 'VIRTIO_BLK', 'SCSI_VIRTIO', 'OVERLAY_FS', 'PVH', 'SERIAL_8250_CONSOLE']) expect(r.stdout).toMatch(new RegExp(`CONFIG_${o} +built in`));
    expect(await readFile(join(tree, '.config'), 'utf8')).not.toMatch(/=m$/m);
  }, 10 * 60_000);
});

/** The cloud kernel image's /kernel.config (read from the image in the store). */
async function cloudConfig(): Promise<string> {
  const { readKernelConfigArg } = await import('../../src/kernel/source.js');
  const store = await openStore(systemStore());
  return (await readKernelConfigArg(join(projectRoot, 'images', 'kernel'), { store })).text;
}

/**
 * The real thing: system images made by `coracle pkg build`, assembled by
 * `coracle build` from examples/web.yml (image tags refreshed to what the
 * image definitions build now), booted under QEMU: onboot in order, every
 * service a containerd task, the web page through --publish, a clean
 * shutdown that runs onshutdown.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { QemuVm } from '../../src/qemu/vm.js';
import { projectRoot, runCli } from '../helpers/cli.js';
import { devCacheDir, findBootImage } from '../helpers/dev-initrd.js';
import { BOOT_TIMEOUT_MS, bootVm, initLines, powerdown } from '../helpers/qemu.js';

const IMAGES = ['kernel', 'init', 'runc', 'containerd', 'sysctl', 'dhcpcd', 'getty', 'ntpd', 'busybox'];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Replace every coracle/NAME:TAG in the spec by the tag the definition builds now. */
function retag(spec: unknown, tags: Map<string, string>): unknown {
  if (typeof spec === 'string') {
    const m = /^coracle\/([a-z0-9-]+):/.exec(spec);
    return m && tags.has(m[1]!) ? tags.get(m[1]!) : spec;
  }
  if (Array.isArray(spec)) return spec.map((v) => retag(v, tags));
  if (spec && typeof spec === 'object') return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, retag(v, tags)]));
  return spec;
}

const store = join(devCacheDir(), 'store');
let dir: string;
let vm: QemuVm;
let port: number;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-built-'));
  const dirs = IMAGES.map((i) => join('images', i));
  const pkg = await runCli(['--cache', store, 'pkg', 'build', ...dirs], { timeout: 1_500_000 });
  expect(pkg.exitCode, pkg.stderr.slice(-3000)).toBe(0);
  const show = await runCli(['--cache', store, 'pkg', 'show-tag', ...dirs]);
  expect(show.exitCode, show.stderr).toBe(0);
  const tags = new Map<string, string>();
  for (const ref of show.stdout.trim().split('\n')) {
    const m = /coracle\/([a-z0-9-]+):([0-9a-f]+)$/.exec(ref.trim());
    if (m) tags.set(m[1]!, `coracle/${m[1]}:${m[2]}`);
  }
  const spec = retag(parse(await readFile(join(projectRoot, 'examples', 'web.yml'), 'utf8')), tags);
  const specFile = join(dir, 'web.yml');
  await writeFile(specFile, stringify(spec));
  const build = await runCli(['--cache', store, 'build', specFile, '-o', join(dir, 'out')], { timeout: 600_000 });
  expect(build.exitCode, build.stderr.slice(-3000)).toBe(0);
  const img = await findBootImage(join(dir, 'out'), 'web');
  port = await freePort();
  ({ vm } = await bootVm(img, {
    publish: [{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 80, protocol: 'tcp' }],
    logFile: join(dir, 'console.log'),
  }));
  try {
    await vm.waitForConsole(/coracle: all services started/, BOOT_TIMEOUT_MS);
  } catch (e) {
    vm.kill();
    throw e;
  }
});

afterAll(async () => {
  if (vm?.running) {
    vm.kill();
    await vm.wait();
  }
  if (dir && !process.env.CORACLE_KEEP_BOOT) await rm(dir, { recursive: true, force: true });
});

describe('examples/web.yml built by coracle build, under QEMU', () => {
  it('runs onboot in order, then every service as a containerd task', () => {
    const lines = initLines(vm.console);
    const idx = (s: string) => lines.findIndex((l) => l.startsWith(`coracle: ${s}`));
    const order = ['onboot 000-sysctl exited 0', 'onboot 001-dhcpcd exited 0', 'containerd started', 'all services started'];
    const at = order.map(idx);
    for (const [i, v] of at.entries()) expect(v, `${order[i]}\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    for (const s of ['getty', 'ntpd', 'web']) {
      const i = idx(`service ${s} started`);
      expect(i, lines.join('\n')).toBeGreaterThan(idx('containerd started'));
      expect(i).toBeLessThan(idx('all services started'));
    }
  });

  it('serves the page from files: through --publish', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('Hello from a Coracle host');
  });

  it('shuts down cleanly on system_powerdown, running onshutdown', async () => {
    const from = vm.console.length;
    const r = await powerdown(vm);
    expect(r.status, vm.console.slice(-3000)).toBe(0);
    expect(r.reason).toBe('poweroff');
    const after = vm.console.slice(from);
    expect(after).toContain('web: onshutdown ran');
    expect(initLines(after)).toContain('coracle: onshutdown 000-goodbye exited 0');
    expect(initLines(after)).toContain('coracle: service web stopped');
    expect(initLines(after)).toContain('coracle: shutdown complete');
  });
});

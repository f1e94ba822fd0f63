/**
 * examples/sshd.yml built and booted: dropbear in its own container, root's
 * authorized_keys from `files:` (mode 0600), ssh from the host with a key
 * through --publish.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { BOOT_TIMEOUT_MS, bootVm, buildExample, freePort, initLines, powerdown } from '../helpers/qemu.js';

let dir: string;
let vm: QemuVm;
let port: number;
let key: string;

async function ssh(command: string) {
  return execa(
    'ssh',
    [
      '-i', key, '-p', String(port),
      '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes',
      '-o', 'ConnectTimeout=60', '-o', 'LogLevel=ERROR',
      'root@127.0.0.1', command,
    ],
    { reject: false, timeout: 120_000 },
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-sshd-'));
  key = join(dir, 'id_ed25519');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const img = await buildExample('sshd', join(dir, 'out'), (spec) => {
    for (const f of spec.files as { path: string; source?: string }[]) {
      if (f.path.endsWith('authorized_keys')) f.source = `${key}.pub`;
    }
  });
  port = await freePort();
  ({ vm } = await bootVm(img, {
    publish: [{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 22, protocol: 'tcp' }],
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

describe('examples/sshd.yml under QEMU', () => {
  it('starts sshd as a service', () => {
    expect(initLines(vm.console).some((l) => l.startsWith('coracle: service sshd started'))).toBe(true);
  });

  it('takes an ssh login with the key from files:, into a container of its own', async () => {
    // the service may still be making its host keys: retry for a while
    let r = await ssh('echo ssh-ok');
    for (let i = 0; i < 10 && r.exitCode !== 0; i++) {
      await new Promise((res) => setTimeout(res, 5000));
      r = await ssh('echo ssh-ok');
    }
    expect(r.exitCode, `${r.stderr}\n${vm.console.slice(-2000)}`).toBe(0);
    expect(r.stdout.trim()).toBe('ssh-ok');
    const info = await ssh('stat -c %a /root/.ssh/authorized_keys; cat /root/.ssh/authorized_keys; readlink /proc/self/ns/mnt; readlink /proc/1/ns/mnt');
    expect(info.exitCode, info.stderr).toBe(0);
    const [mode, pub, mine, init] = info.stdout.trim().split('\n');
    expect(mode).toBe('600');
    expect(pub).toBe((await readFile(`${key}.pub`, 'utf8')).trim());
    // host pid namespace: /proc/1 is the host's init, in another mount namespace
    expect(mine).toMatch(/^mnt:\[\d+\]$/);
    expect(mine).not.toBe(init);
  });

  it('a login with another key is refused', async () => {
    const other = join(dir, 'other');
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const saved = key;
    key = other;
    try {
      const r = await ssh('echo should-not-run');
      expect(r.exitCode).not.toBe(0);
      expect(r.stdout).not.toContain('should-not-run');
    } finally {
      key = saved;
    }
  });

  it('powers off cleanly', async () => {
    const r = await powerdown(vm);
    expect(r.status).toBe(0);
    expect(initLines(vm.console)).toContain('coracle: service sshd stopped');
  });
});

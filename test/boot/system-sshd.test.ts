/**
 * examples/sshd.yml built by `coracle build` and booted: dropbear runs in
 * its own container and accepts root's key that the spec's `files:` put in
 * the host's /root/.ssh (here a key made for the test, in an overlay spec).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../src/qemu/vm.js';
import { projectRoot } from '../helpers/cli.js';
import { bootUntilReady, cleanupBoot, freePort, powerdown } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages, specImageNames } from '../helpers/system.js';

const run = promisify(execFile);
const SSHD = join(projectRoot, 'examples', 'sshd.yml');


let dir: string;
let vm: QemuVm;
let logFile: string;
let port: number;
let key: string;

function ssh(user: string, identity: string, command: string) {
  return run(
    'ssh',
    ['-i', identity, '-p', String(port), '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=20', '-o', 'IdentitiesOnly=yes', `${user}@127.0.0.1`, command],
    { timeout: 60_000 },
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-sshd-'));
  key = join(dir, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'coracle-test', '-f', key]);
  const overlay = join(dir, 'test-key.yml');
  const pub = (await readFile(`${key}.pub`, 'utf8')).trim();
  await writeFile(overlay, `files:\n  - path: root/.ssh/authorized_keys\n    contents: "${pub}\\n"\n    mode: "0600"\n`);
  await ensureSystemImages(await specImageNames(SSHD));
  const img = await buildSystem([SSHD, overlay], join(dir, 'out'), 'sshd');
  port = await freePort();
  ({ vm, logFile } = await bootUntilReady(
    img,
    { publish: [{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 22, protocol: 'tcp' }], logFile: join(dir, 'console.log') },
    /coracle: all services started/,
  ));
});

afterAll(() => cleanupBoot(vm, dir));

describe('examples/sshd.yml booted from coracle build', () => {
  it('accepts root with the key from files:, in the sshd container', async () => {
    let out = '';
    let last: unknown;
    // dropbear makes its host keys on first start: allow it some time
    for (let i = 0; i < 12 && out === ''; i++) {
      try {
        out = (await ssh('root', key, 'echo ssh-ok; id -u; readlink /proc/self/ns/mnt; readlink /proc/1/ns/mnt')).stdout;
      } catch (e) {
        last = e;
        await new Promise((r) => setTimeout(r, 10_000));
      }
    }
    expect(out, `ssh failed: ${String((last as { stderr?: string })?.stderr ?? last)} (console: ${logFile})`).toMatch(/^ssh-ok\n0\n/);
    const [, , own, init] = out.trim().split('\n');
    expect(own).toMatch(/^mnt:\[\d+\]$/);
    expect(own, 'the ssh session runs in the sshd container, not in the host mount namespace').not.toBe(init);
  });

  it('refuses a key that is not authorized', async () => {
    const other = join(dir, 'other');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    await expect(ssh('root', other, 'true')).rejects.toMatchObject({ stderr: expect.stringMatching(/Permission denied/) });
  });

  it('powers off cleanly', async () => {
    const result = await powerdown(vm);
    expect(result.reason, logFile).toBe('poweroff');
    expect(result.status).toBe(0);
  });
});

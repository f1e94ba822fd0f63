/**
 * examples/sshd.yml built by `coracle build` and booted by the runner of
 * `coracle test`: test/fixtures/boot/sshd-login.test.yml (ssh from this
 * machine through the published port: root's key from files: gets in, to
 * the sshd container; another key is refused), then examples/sshd.test.yml
 * (dropbear running, the key installed, clean poweroff), in one boot. The
 * key is made for the test and put in root's authorized_keys by an overlay
 * spec.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/cli.js';
import { cleanupBoot } from '../helpers/qemu.js';
import { explain, runSystemTest, type SystemTestRun } from '../helpers/system.js';

const exec = promisify(execFile);
const SSHD = join(projectRoot, 'examples', 'sshd.yml');

let dir: string;
let run: SystemTestRun;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-sshd-'));
  const key = join(dir, 'id_ed25519');
  const other = join(dir, 'other');
  for (const k of [key, other]) await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'coracle-test', '-f', k]);
  const overlay = join(dir, 'test-key.yml');
  const pub = (await readFile(`${key}.pub`, 'utf8')).trim();
  await writeFile(overlay, `files:\n  - path: root/.ssh/authorized_keys\n    contents: "${pub}\\n"\n    mode: "0600"\n`);
  // the local steps' ssh reads the keys from these
  process.env.SSH_TEST_KEY = key;
  process.env.SSH_OTHER_KEY = other;
  run = await runSystemTest({
    specs: [SSHD, overlay],
    name: 'sshd',
    dir,
    tests: [join(projectRoot, 'test', 'fixtures', 'boot', 'sshd-login.test.yml'), join(projectRoot, 'examples', 'sshd.test.yml')],
  });
}, 30 * 60_000);

afterAll(() => cleanupBoot(undefined, dir));

describe('examples/sshd.yml booted from coracle build, under the coracle test runner', () => {
  it('root logs in over ssh with its key, into the sshd container; another key is refused; the example\'s steps pass', () => {
    expect(run.report.steps.filter((s) => s.status !== 'pass'), explain(run)).toEqual([]);
    expect(run.report.steps.map((s) => s.kind)).toEqual(['local', 'local', 'console', 'console', 'exec', 'exec', 'poweroff']);
  });

  it('powers off cleanly', () => {
    expect(run.report.guest, explain(run)).toEqual({ reason: 'poweroff', status: 0 });
  });
});

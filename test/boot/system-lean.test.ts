/**
 * examples/web.yml on Coracle's lean kernel (images/kernel-lean: Debian's
 * linux-source-6.1 built from kernel-config/, no loadable module), under the
 * runner of `coracle test`: test/fixtures/boot/web-lean.test.yml (the lean
 * kernel, no module file, eth0), then examples/web.test.yml (every service,
 * HTTP to the host, a clean poweroff), in one boot. The same spec on the
 * cloud kernel with trimmed modules is system-web.test.ts. The image is
 * compiled by integration/kernel-lean.test.ts, which runs first.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/cli.js';
import { cleanupBoot } from '../helpers/qemu.js';
import { explain, runSystemTest, type SystemTestRun } from '../helpers/system.js';

const WEB = join(projectRoot, 'examples', 'web.yml');
const LEAN = join(projectRoot, 'test', 'fixtures', 'boot', 'kernel-lean.yml');

let dir: string;
let run: SystemTestRun;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-lean-'));
  // the lean kernel compiles on first use (minutes); later runs find it in the store
  run = await runSystemTest({
    specs: [WEB, LEAN],
    name: 'web-lean',
    dir,
    tests: [join(projectRoot, 'test', 'fixtures', 'boot', 'web-lean.test.yml'), join(projectRoot, 'examples', 'web.test.yml')],
  });
}, 50 * 60_000);

afterAll(() => cleanupBoot(undefined, dir));

describe('examples/web.yml on the lean kernel', () => {
  it('boots the lean kernel with no module file, starts every service, serves HTTP, powers off cleanly', () => {
    expect(run.report.steps.filter((s) => s.status !== 'pass'), explain(run)).toEqual([]);
    expect(run.report.steps.filter((s) => s.kind === 'http')).toHaveLength(2);
    expect(run.report.guest).toEqual({ reason: 'poweroff', status: 0 });
  });
});

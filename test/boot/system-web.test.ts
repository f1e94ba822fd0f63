/**
 * The product's main job, end to end: the real system images built by
 * `coracle pkg build`, examples/web.yml (plus test/fixtures/boot/web-extra.yml)
 * assembled by `coracle build`, booted under QEMU by the runner of `coracle
 * test`. One boot runs test/fixtures/boot/web.test.yml (onboot order, the
 * module set, namespaces and cgroups, one inode per image file yet isolated
 * writes, files: modes) and then examples/web.test.yml (HTTP through
 * --publish, exec in the web container, its read-only root, a clean
 * poweroff through onshutdown).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../helpers/cli.js';
import { cleanupBoot } from '../helpers/qemu.js';
import { explain, runSystemTest, type SystemTestRun } from '../helpers/system.js';

const WEB = join(projectRoot, 'examples', 'web.yml');
const EXTRA = join(projectRoot, 'test', 'fixtures', 'boot', 'web-extra.yml');

let dir: string;
let run: SystemTestRun;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-web-'));
  run = await runSystemTest({
    specs: [WEB, EXTRA],
    name: 'web',
    dir,
    tests: [join(projectRoot, 'test', 'fixtures', 'boot', 'web.test.yml'), join(projectRoot, 'examples', 'web.test.yml')],
  });
}, 30 * 60_000);

afterAll(() => cleanupBoot(undefined, dir));

describe('examples/web.yml booted from coracle build, under the coracle test runner', () => {
  it('passes every step of the project\'s checks and of the example\'s test file', () => {
    expect(run.report.steps.filter((s) => s.status !== 'pass'), explain(run)).toEqual([]);
    expect(run.report.passed).toBe(true);
  });

  it('ran both files\' steps in one boot: console, exec, http, poweroff', () => {
    const files = [...new Set(run.report.steps.map((s) => s.file.replace(`${projectRoot}/`, '')))];
    expect(files).toEqual(['test/fixtures/boot/web.test.yml', 'examples/web.test.yml']);
    const kinds = run.report.steps.map((s) => s.kind);
    expect(kinds.filter((k) => k === 'exec')).toHaveLength(7);
    expect(kinds.filter((k) => k === 'http')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'poweroff')).toHaveLength(1);
    expect(run.report.guest).toEqual({ reason: 'poweroff', status: 0 });
  });
});

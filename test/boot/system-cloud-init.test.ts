/**
 * examples/cloud-init.yml exactly as a user tests it: `coracle test
 * examples/cloud-init.yml` builds the spec and boots it with the user-data
 * its test file names (examples/cloud-init.user-data.yml, on a NoCloud seed
 * ISO), then checks examples/cloud-init.test.yml: the agent's onboot step,
 * the hostname and a file from user-data, a clean poweroff. The agent itself
 * is tested at length by cloudinit.test.ts.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../../src/testing/types.js';
import { projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { cleanupBoot } from '../helpers/qemu.js';
import { ensureSystemImages, specImageNames, systemStore } from '../helpers/system.js';

const SPEC = join(projectRoot, 'examples', 'cloud-init.yml');

let dir: string;
let r: CliResult;
let report: TestReport;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-cloud-init-'));
  await ensureSystemImages(await specImageNames(SPEC));
  r = await runCli(['--cache', systemStore(), 'test', 'examples/cloud-init.yml', '--json', '--log', join(dir, 'console.log')], { timeout: 20 * 60_000 });
  report = JSON.parse(r.stdout) as TestReport;
}, 30 * 60_000);

afterAll(() => cleanupBoot(undefined, dir));

describe('examples/cloud-init.yml under coracle test', () => {
  it('is provisioned from examples/cloud-init.user-data.yml and passes every step of its test file', () => {
    expect(report.steps.filter((s) => s.status !== 'pass'), `${r.stderr.slice(-4000)}\n(console: ${join(dir, 'console.log')})`).toEqual([]);
    expect(report.steps.map((s) => s.kind)).toEqual(['console', 'console', 'exec', 'exec', 'poweroff']);
    expect(r.exitCode).toBe(0);
    expect(report.guest).toEqual({ reason: 'poweroff', status: 0 });
  });
});

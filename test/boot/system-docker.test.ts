/**
 * examples/docker.yml under `coracle test`, three boots:
 *
 *   1. no data disk, through the CLI: examples/docker.test.yml (the datadisk
 *      step mounts nothing, cgroup v2, overlay2 on tmpfs, a container,
 *      `docker run -d -p` answering from the host through --publish, a
 *      container reaching out through NAT), plus pulls from a real registry
 *      on the host's loopback, which the guest reaches as 10.0.2.2 through
 *      QEMU's user network (the project's own busybox image, pushed there
 *      with `coracle push`);
 *   2. an empty data disk (test/fixtures/boot/docker-disk-1.test.yml): it is
 *      formatted and mounted on /var/lib/docker; docker pulls an image and
 *      runs it; clean poweroff;
 *   3. the same disk again (docker-disk-2.test.yml), the registry stopped:
 *      the disk is found by its label, `docker image ls` lists the image,
 *      which runs with --pull never.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../../src/testing/types.js';
import { projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { cleanupBoot } from '../helpers/qemu.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { ensureSystemImages, explain, runSystemTest, specImageNames, systemStore, type SystemTestRun } from '../helpers/system.js';

const DOCKER = join(projectRoot, 'examples', 'docker.yml');

let dir: string;
let registry: TestRegistry | undefined;
let guestRegistry: string;
let r: CliResult;
let report: TestReport;
let pullsAfterBoot2 = 0;

const manifestPulls = () => registry?.accessLog().filter((e) => e.method === 'GET' && /\/v2\/coracle-test\/busybox\/manifests\//.test(e.path)).length ?? 0;

/** A fixture with REGISTRY replaced by the registry's address as the guest sees it. */
async function withRegistry(name: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, (await readFile(join(projectRoot, 'test', 'fixtures', 'boot', name), 'utf8')).replaceAll('REGISTRY', guestRegistry));
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-docker-'));
  await ensureSystemImages([...new Set([...(await specImageNames(DOCKER)), 'busybox'])]);
  registry = await startRegistry({ auth: 'none' });
  const tag = await runCli(['--cache', systemStore(), 'pkg', 'show-tag', 'images/busybox', '--json']);
  const ref = (JSON.parse(tag.stdout) as { reference: string }[])[0]!.reference;
  const pushed = await runCli(['--cache', systemStore(), 'push', ref, `${registry.host}/coracle-test/busybox:1`]);
  if (pushed.exitCode !== 0) throw new Error(pushed.stderr);
  guestRegistry = `10.0.2.2:${registry.host.split(':')[1]}`;
  const image = `${guestRegistry}/coracle-test/busybox:1`;
  // the example's steps, then the registry's, before it powers off
  const example = await readFile(join(projectRoot, 'examples', 'docker.test.yml'), 'utf8');
  const fromRegistry = [
    '  - exec:',
    '      service: docker',
    `      run: docker run --rm ${image} echo pulled from the host registry`,
    '      expect: pulled from the host registry',
    '      timeout: 5m',
    '  - exec:',
    '      service: docker',
    `      run: docker run --rm ${image} wget -q -O - http://${guestRegistry}/v2/`,
    '      expect: "{}"',
    '      timeout: 5m',
    '',
  ].join('\n');
  expect(example).toContain('  - poweroff:');
  const testFile = join(dir, 'docker.test.yml');
  await writeFile(testFile, example.replace('  - poweroff:', `${fromRegistry}  - poweroff:`));
  // built into out/, which boots 2 and 3 reuse
  r = await runCli(['--cache', systemStore(), 'test', DOCKER, testFile, '-o', join(dir, 'out'), '--json', '--log', join(dir, 'console.log')], { timeout: 30 * 60_000 });
  report = JSON.parse(r.stdout) as TestReport;
  // docker pulls and runs five containers under TCG: longer than the boot project's default hook timeout
}, 40 * 60_000);

afterAll(async () => {
  await registry?.stop();
  await cleanupBoot(undefined, dir);
});

describe('examples/docker.yml', () => {
  it('runs docker containers: cgroup v2, overlay2, -p published to the host, NAT out, pulls from the host registry', () => {
    expect(report.steps.filter((s) => s.status !== 'pass'), r.stderr.slice(-5000)).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(report.steps.filter((s) => s.kind === 'exec')).toHaveLength(7);
    expect(report.guest).toEqual({ reason: 'poweroff', status: 0 });
  });

  it('the image came from the registry on the host loopback', () => {
    expect(manifestPulls()).toBeGreaterThan(0);
  });

  describe('with a data disk', () => {
    const disk = () => ({ path: join(dir, 'docker.qcow2'), format: 'qcow2', size: '4G' });
    let boot2: SystemTestRun;

    it('boot 2: an empty disk is formatted and holds /var/lib/docker; docker pulls and runs an image there', async () => {
      const before = manifestPulls();
      boot2 = await runSystemTest({ specs: [DOCKER], name: 'docker', dir, out: join(dir, 'out'), tests: [await withRegistry('docker-disk-1.test.yml')], disks: [disk()], log: 'boot2.log' });
      expect(boot2.report.steps.filter((s) => s.status !== 'pass'), explain(boot2)).toEqual([]);
      expect(boot2.report.guest).toEqual({ reason: 'poweroff', status: 0 });
      pullsAfterBoot2 = manifestPulls();
      expect(pullsAfterBoot2).toBeGreaterThan(before);
    }, 20 * 60_000);

    it('boot 3: the same disk again: the image is still there and runs with no registry', async () => {
      expect(boot2?.report.passed, 'boot 2 failed').toBe(true);
      await registry!.stop();
      registry = undefined;
      const boot3 = await runSystemTest({ specs: [DOCKER], name: 'docker', dir, out: join(dir, 'out'), tests: [await withRegistry('docker-disk-2.test.yml')], disks: [disk()], log: 'boot3.log' });
      expect(boot3.report.steps.filter((s) => s.status !== 'pass'), explain(boot3)).toEqual([]);
      expect(boot3.report.guest).toEqual({ reason: 'poweroff', status: 0 });
    }, 20 * 60_000);
  });
});

/**
 * examples/docker.yml under `coracle test`: examples/docker.test.yml (cgroup
 * v2, overlay2 on tmpfs, a container, `docker run -d -p` answering from the
 * host through --publish, a container reaching out through NAT), plus pulls
 * from a real registry on the host's loopback, which the guest reaches as
 * 10.0.2.2 through QEMU's user network: the image is the project's own
 * busybox image, pushed there with `coracle push`.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../../src/testing/types.js';
import { projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { cleanupBoot } from '../helpers/qemu.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { ensureSystemImages, specImageNames, systemStore } from '../helpers/system.js';

const DOCKER = join(projectRoot, 'examples', 'docker.yml');

let dir: string;
let registry: TestRegistry;
let r: CliResult;
let report: TestReport;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-docker-'));
  await ensureSystemImages([...new Set([...(await specImageNames(DOCKER)), 'busybox'])]);
  registry = await startRegistry({ auth: 'none' });
  const tag = await runCli(['--cache', systemStore(), 'pkg', 'show-tag', 'images/busybox', '--json']);
  const ref = (JSON.parse(tag.stdout) as { reference: string }[])[0]!.reference;
  const pushed = await runCli(['--cache', systemStore(), 'push', ref, `${registry.host}/coracle-test/busybox:1`]);
  if (pushed.exitCode !== 0) throw new Error(pushed.stderr);
  const image = `10.0.2.2:${registry.host.split(':')[1]}/coracle-test/busybox:1`;
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
    `      run: docker run --rm ${image} wget -q -O - http://10.0.2.2:${registry.host.split(':')[1]}/v2/`,
    '      expect: "{}"',
    '      timeout: 5m',
    '',
  ].join('\n');
  expect(example).toContain('  - poweroff:');
  const testFile = join(dir, 'docker.test.yml');
  await writeFile(testFile, example.replace('  - poweroff:', `${fromRegistry}  - poweroff:`));
  r = await runCli(['--cache', systemStore(), 'test', DOCKER, testFile, '--json', '--log', join(dir, 'console.log')], { timeout: 30 * 60_000 });
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
    const pulls = registry.accessLog().filter((e) => e.method === 'GET' && /\/v2\/coracle-test\/busybox\/manifests\//.test(e.path));
    expect(pulls.length).toBeGreaterThan(0);
  });
});

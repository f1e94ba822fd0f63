// The pull / inspect commands as a user runs them (a child process), against
// a small in-process registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../../helpers/cli.js';
import { startFakeRegistry, serveImage, type FakeRegistry } from '../registry/fake-registry.js';

let reg: FakeRegistry;
let dir: string;
let env: Record<string, string>;
let img: ReturnType<typeof serveImage>;
beforeAll(async () => {
  reg = await startFakeRegistry();
  img = serveImage(reg, 'library/alpine', '3.20');
  serveImage(reg, 'app', '1');
  dir = await mkdtemp(join(tmpdir(), 'coracle-cli-'));
  // No user config or docker credentials from the machine running the tests.
  env = { DOCKER_CONFIG: join(dir, 'docker'), XDG_CONFIG_HOME: join(dir, 'xdg'), CORACLE_CACHE: join(dir, 'cache') };
});
afterAll(async () => {
  await reg.close();
  await rm(dir, { recursive: true, force: true });
});

describe('coracle pull / inspect', () => {
  it('pulls through --mirror and prints the reference and digest', async () => {
    const r = await runCli(['pull', '--mirror', `docker.io=${reg.url}`, 'alpine:3.20'], { env });
    expect(r.stderr).toContain('layer: done');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`pulled docker.io/library/alpine:3.20 ${img.manifestDigest}`);
  });

  it('takes mirrors from the user config file', async () => {
    const cfg = join(dir, 'config.yml');
    await writeFile(cfg, `mirrors:\n  docker.io: [${reg.url}]\n`);
    const cache = join(dir, 'other-cache');
    const r = await runCli(['--cache', cache, 'pull', 'alpine:3.20'], { env: { ...env, CORACLE_CONFIG: cfg } });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`pulled docker.io/library/alpine:3.20 ${img.manifestDigest}`);
  });

  it('inspects as JSON, from the store once pulled', async () => {
    const before = reg.requests.length;
    const r = await runCli(['inspect', 'alpine:3.20'], { env });
    expect(r.exitCode).toBe(0);
    expect(reg.requests.length).toBe(before); // answered from the store
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(['reference', 'digest', 'source', 'manifest', 'config']);
    expect(j.source).toBe('store');
    expect(j.reference).toBe('docker.io/library/alpine:3.20');
    expect(j.digest).toBe(img.manifestDigest);
    expect(j.manifest.layers[0].digest).toBe(img.layerDigest);
    expect(j.config.rootfs.diff_ids).toEqual([img.layerDigest]);
  });

  it('inspects a registry image with --raw', async () => {
    const r = await runCli(['inspect', '--raw', `${reg.host}/app:1`], { env });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout).schemaVersion).toBe(2);
  });

  it('fails with one line naming the registry and the cause', async () => {
    const r = await runCli(['pull', `${reg.host}/none:1`], { env });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toBe(`coracle: pull ${reg.host}/none:1: manifest unknown (registry ${reg.host} answered 404)`);
    const bad = await runCli(['pull', '--platform', 'linux', `${reg.host}/app:1`], { env });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/^coracle: pull .*: invalid platform "linux": missing architecture/);
  });
});

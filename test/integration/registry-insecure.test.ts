// Plain-http registries that are not localhost/127.0.0.1 need --insecure (or
// `insecure:` in the user config). The registry still listens on 127.0.0.1;
// we reach it through this machine's host name when that resolves to
// 127.0.0.1 (it does in the dev VM; elsewhere these tests are skipped).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookup } from 'node:dns/promises';
import { hostname, tmpdir } from 'node:os';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { skopeoCopy, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeImageLayout, readLayout, type BuiltImage, type TempLayout } from '../helpers/images.js';
import { oneLineError } from '../helpers/fault-server.js';

const name = hostname().toLowerCase();
const loopbackName = await lookup(name, { family: 4 })
  .then((a) => a.address === '127.0.0.1' && /^[a-z0-9-]+$/.test(name) && name !== 'localhost')
  .catch(() => false);

describe.runIf(loopbackName)(`plain-http registry reached as ${name}`, () => {
  let reg: TestRegistry;
  let img: TempLayout<BuiltImage>;
  let ref: string;
  const tmp: string[] = [];
  const newDir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'coracle-insecure-'));
    tmp.push(d);
    return d;
  };
  beforeAll(async () => {
    reg = await startRegistry({ auth: 'none' });
    img = await makeImageLayout({ layers: [5_000] }, 'v1');
    await skopeoCopy(`oci:${img.dir}:v1`, `docker://${reg.host}/insecure/app:v1`);
    ref = `${name}:${reg.host.split(':')[1]}/insecure/app:v1`;
  });
  afterAll(async () => {
    await reg?.stop();
    await img?.cleanup();
    for (const d of tmp) await rm(d, { recursive: true, force: true });
  });

  it('without --insecure: https is tried and the failure says so in one line', async () => {
    const home = await newDir();
    const cache = await newDir();
    const r = await runCli(['--cache', cache, 'pull', ref], { env: { XDG_CONFIG_HOME: home, DOCKER_CONFIG: home }, timeout: 120_000 });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(`${name}:${reg.host.split(':')[1]}`);
    expect(line).toMatch(/TLS|https|SSL|insecure/i);
    expect((await readLayout(cache).catch(() => undefined))?.find(ref)).toBeUndefined();
  });

  it('with --insecure: pulled over plain http', async () => {
    const home = await newDir();
    const cache = await newDir();
    const r = await runCli(['--cache', cache, 'pull', '--insecure', ref], { env: { XDG_CONFIG_HOME: home, DOCKER_CONFIG: home } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await readLayout(cache)).find(ref)?.digest).toBe(img.built.manifestDigest);
  });

  it('with `insecure:` in the user config: pulled over plain http', async () => {
    const home = await newDir();
    const cache = await newDir();
    const cfg = join(home, 'config.yml');
    await writeFile(cfg, `insecure:\n  - ${name}:${reg.host.split(':')[1]}\n`);
    const r = await runCli(['--cache', cache, 'pull', ref], { env: { CORACLE_CONFIG: cfg, DOCKER_CONFIG: home } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await readLayout(cache)).find(ref)?.digest).toBe(img.built.manifestDigest);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerConfigPath, dockerCredentials, normaliseRegistryKey } from '../../../../src/oci/registry/credentials.js';

let dir: string;
let env: NodeJS.ProcessEnv;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-creds-'));
  env = { ...process.env, DOCKER_CONFIG: dir, PATH: `${join(dir, 'bin')}:${process.env.PATH}` };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const writeConfig = (cfg: unknown) => writeFile(join(dir, 'config.json'), JSON.stringify(cfg));

/** A docker-credential-NAME script answering `get` for one server; logs what it was asked. */
async function helper(name: string, answers: Record<string, { Username: string; Secret: string }>) {
  await mkdir(join(dir, 'bin'), { recursive: true });
  const cases = Object.entries(answers)
    .map(([server, a]) => `  '${server}') printf '%s' '${JSON.stringify({ ServerURL: server, ...a })}' ;;`)
    .join('\n');
  const script = `#!/bin/sh
[ "$1" = get ] || exit 2
read -r server
echo "$server" >> "${join(dir, `${name}.log`)}"
case "$server" in
${cases}
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;
  const path = join(dir, 'bin', `docker-credential-${name}`);
  await writeFile(path, script);
  await chmod(path, 0o755);
  return async () => (await readFile(join(dir, `${name}.log`), 'utf8').catch(() => '')).split('\n').filter(Boolean);
}

describe('docker config credentials', () => {
  it('finds config.json through DOCKER_CONFIG', () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: '/x' })).toBe('/x/config.json');
  });

  it('reads base64 auth and username/password entries', async () => {
    await writeConfig({
      auths: {
        'localhost:5000': { auth: b64('alice:pa:ss') },
        'https://reg.example.com': { username: 'bob', password: 'pw' },
        'id.example.com': { identitytoken: 'refresh' },
      },
    });
    const creds = dockerCredentials({ env });
    expect(await creds('localhost:5000')).toEqual({ username: 'alice', password: 'pa:ss' });
    expect(await creds('reg.example.com')).toEqual({ username: 'bob', password: 'pw' });
    expect(await creds('id.example.com')).toEqual({ identityToken: 'refresh' });
    expect(await creds('other:5000')).toBeUndefined();
  });

  it('maps Docker Hub key spellings to docker.io', async () => {
    await writeConfig({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') } } });
    const creds = dockerCredentials({ env });
    expect(await creds('docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(normaliseRegistryKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normaliseRegistryKey('registry-1.docker.io')).toBe('docker.io');
    expect(normaliseRegistryKey('http://Reg.Example.com:5000/v2/')).toBe('reg.example.com:5000');
  });

  it('asks a credHelpers helper for its registry only, once', async () => {
    const calls = await helper('test', { 'localhost:5000': { Username: 'carol', Secret: 'helper-pw' } });
    await writeConfig({ credHelpers: { 'localhost:5000': 'test' }, auths: { 'localhost:5000': { auth: b64('file:pw') }, 'x.example': { auth: b64('x:y') } } });
    const creds = dockerCredentials({ env });
    expect(await creds('localhost:5000')).toEqual({ username: 'carol', password: 'helper-pw' });
    expect(await creds('localhost:5000')).toEqual({ username: 'carol', password: 'helper-pw' });
    expect(await creds('x.example')).toEqual({ username: 'x', password: 'y' });
    expect(await calls()).toEqual(['localhost:5000']);
  });

  it('uses credsStore for every registry, with the Docker Hub server URL for docker.io and <token> as identity token', async () => {
    const calls = await helper('store', {
      'https://index.docker.io/v1/': { Username: '<token>', Secret: 'hub-refresh-token' },
      'reg.example.com': { Username: 'dan', Secret: 'pw' },
    });
    await writeConfig({ credsStore: 'store', auths: { 'fallback.example': { auth: b64('f:g') } } });
    const creds = dockerCredentials({ env });
    expect(await creds('docker.io')).toEqual({ identityToken: 'hub-refresh-token' });
    expect(await creds('reg.example.com')).toEqual({ username: 'dan', password: 'pw' });
    // The store has nothing: the file's auths still count.
    expect(await creds('fallback.example')).toEqual({ username: 'f', password: 'g' });
    expect(await creds('nothing.example')).toBeUndefined();
    expect(await calls()).toEqual(['https://index.docker.io/v1/', 'reg.example.com', 'fallback.example', 'nothing.example']);
  });

  it('names a helper that is missing or fails', async () => {
    await writeConfig({ credHelpers: { 'a.example': 'absent', 'b.example': 'broken' } });
    await mkdir(join(dir, 'bin'), { recursive: true });
    await writeFile(join(dir, 'bin', 'docker-credential-broken'), '#!/bin/sh\necho "keyring locked" >&2\nexit 3\n');
    await chmod(join(dir, 'bin', 'docker-credential-broken'), 0o755);
    const creds = dockerCredentials({ env });
    await expect(creds('a.example')).rejects.toThrow('credential helper docker-credential-absent for a.example not found on PATH');
    await expect(creds('b.example')).rejects.toThrow('credential helper docker-credential-broken for b.example failed (exit 3): keyring locked');
  });

  it('ignores a default credsStore whose program is absent', async () => {
    await writeConfig({ credsStore: 'desktop', auths: { 'a.example': { auth: b64('u:p') } } });
    const creds = dockerCredentials({ env });
    expect(await creds('a.example')).toEqual({ username: 'u', password: 'p' });
    expect(await creds('b.example')).toBeUndefined();
  });

  it('treats a missing config as no credentials and a broken one as an error', async () => {
    expect(await dockerCredentials({ env })('localhost:5000')).toBeUndefined();
    await writeFile(join(dir, 'config.json'), '{ not json');
    await expect(dockerCredentials({ env })('localhost:5000')).rejects.toThrow(`${join(dir, 'config.json')}: not valid JSON`);
  });
});

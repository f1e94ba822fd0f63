import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadUserConfig, mergeMirrors, parseMirrorOption, userConfigPath } from '../../../../src/config/user-config.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-config-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('user config file', () => {
  it('is found through CORACLE_CONFIG, XDG_CONFIG_HOME or ~/.config', () => {
    expect(userConfigPath({ CORACLE_CONFIG: '/c.yml', XDG_CONFIG_HOME: '/x' })).toBe('/c.yml');
    expect(userConfigPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/coracle/config.yml');
    expect(userConfigPath({ HOME: '/h' })).toMatch(/\/\.config\/coracle\/config\.yml$/);
  });

  it('reads mirrors and insecure registries', async () => {
    await mkdir(join(dir, 'coracle'));
    await writeFile(
      join(dir, 'coracle', 'config.yml'),
      'mirrors:\n  docker.io:\n    - http://127.0.0.1:5000/\n    - https://mirror.example.com/prefix\n  quay.io: http://10.0.0.1:5000\ninsecure: [registry.lan:5000]\n',
    );
    const cfg = await loadUserConfig({ XDG_CONFIG_HOME: dir });
    expect(cfg).toEqual({
      path: join(dir, 'coracle', 'config.yml'),
      mirrors: { 'docker.io': ['http://127.0.0.1:5000', 'https://mirror.example.com/prefix'], 'quay.io': ['http://10.0.0.1:5000'] },
      insecure: ['registry.lan:5000'],
    });
  });

  it('is empty when absent, but a named CORACLE_CONFIG must exist', async () => {
    expect(await loadUserConfig({ XDG_CONFIG_HOME: dir })).toEqual({ mirrors: {}, insecure: [] });
    await expect(loadUserConfig({ CORACLE_CONFIG: join(dir, 'none.yml') })).rejects.toThrow(`cannot read config file ${join(dir, 'none.yml')}: no such file`);
  });

  it('reports every bad entry with file:line:col', async () => {
    const f = join(dir, 'c.yml');
    await writeFile(f, 'mirrors:\n  docker.io:\n    - ftp://nope\ninsecure: [ok:5000, "has space"]\nmirorrs: {}\n');
    await expect(loadUserConfig({ CORACLE_CONFIG: f })).rejects.toThrow(
      [
        `${f}:3:7: mirrors.docker.io: "ftp://nope" is not an http:// or https:// URL`,
        `${f}:4:21: insecure: expected a registry host[:port], got "has space"`,
        `${f}:5:1: unknown key "mirorrs" (known: mirrors, insecure)`,
      ].join('\n'),
    );
  });
});

describe('--mirror', () => {
  it('parses REGISTRY=URL and puts command-line mirrors first', () => {
    expect(parseMirrorOption('docker.io=http://127.0.0.1:5000')).toEqual({ registry: 'docker.io', url: 'http://127.0.0.1:5000' });
    expect(parseMirrorOption('index.docker.io=http://m/')).toEqual({ registry: 'docker.io', url: 'http://m' });
    expect(() => parseMirrorOption('http://127.0.0.1:5000')).toThrow('invalid --mirror "http://127.0.0.1:5000": expected REGISTRY=URL');
    expect(() => parseMirrorOption('docker.io=127.0.0.1:5000')).toThrow(/invalid --mirror/);
    expect(mergeMirrors([{ registry: 'docker.io', url: 'http://a' }], { 'docker.io': ['http://b', 'http://a'], 'q.io': ['http://c'] })).toEqual({
      'docker.io': ['http://a', 'http://b'],
      'q.io': ['http://c'],
    });
  });
});

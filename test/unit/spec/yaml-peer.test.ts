import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseYaml } from '../../../src/spec/source.js';
import { conformanceRoot, projectRoot } from '../../helpers/cli.js';

/**
 * Coracle must read every spec's YAML exactly as LinuxKit does. LinuxKit uses
 * go-yaml v3; Debian packages it (golang-gopkg-yaml.v3-dev), so build a tiny
 * decoder with it and compare, file by file: same documents accepted, same
 * values (numbers, booleans, strings, nulls), same documents refused.
 */
const corpus = join(conformanceRoot, 'linuxkit');
const files = [
  ...readdirSync(corpus, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.yml'))
    .map((d) => join(d.parentPath, d.name)),
  ...readdirSync(join(projectRoot, 'test/fixtures/specs'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.yml'))
    .map((d) => join(d.parentPath, d.name)),
].sort();

/**
 * Where Coracle deliberately differs: go-yaml's Unmarshal reads the first
 * document and silently drops the rest; Coracle refuses a second document.
 */
const STRICTER: Record<string, string> = {
  'test/fixtures/specs/invalid/two-documents.yml': 'YAML: a second document starts here',
};

let dir: string;
let peer: Map<string, { value?: unknown; error?: string }>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'coracle-go-yaml-'));
  const bin = join(dir, 'go-yaml-peer');
  execFileSync('go', ['build', '-o', bin, '.'], {
    cwd: join(projectRoot, 'test/fixtures/specs/go-yaml-peer'),
    env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: join(dir, 'cache') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const out = execFileSync(bin, files, { maxBuffer: 64 << 20 }).toString();
  peer = new Map(out.trim().split('\n').map((l) => {
    const r = JSON.parse(l) as { file: string; value?: unknown; error?: string };
    return [r.file, r];
  }));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('YAML reading matches go-yaml v3 (LinuxKit)', () => {
  it('covers the corpus and the fixtures', () => {
    expect(files.length).toBeGreaterThan(181 + 20);
    expect(peer.size).toBe(files.length);
  });

  it.each(files.map((f) => [f.startsWith(corpus) ? f.slice(corpus.length + 1) : f.slice(projectRoot.length + 1), f]))('%s', (name, file) => {
    const ours = parseYaml(readFileSync(file, 'utf8'), file);
    const theirs = peer.get(file)!;
    const ourErrors = ours.diagnostics.filter((d) => d.severity === 'error');
    if (name in STRICTER) {
      expect(theirs.error).toBeUndefined();
      expect(ourErrors.map((d) => d.message).join('\n')).toContain(STRICTER[name]);
      return;
    }
    if (theirs.error !== undefined) {
      expect(ourErrors.length, `go-yaml refused it: ${theirs.error}`).toBeGreaterThan(0);
      return;
    }
    expect(ourErrors).toEqual([]);
    expect(JSON.parse(JSON.stringify(ours.value ?? null))).toEqual(theirs.value ?? null);
  });
});

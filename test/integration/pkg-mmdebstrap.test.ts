/**
 * Peer check: the builder resolves Debian packages with apt against a
 * private state folder (src/debian/apt.ts). mmdebstrap --variant=extract,
 * the tool the issue names, must pick exactly the same packages and
 * versions for the same request and sources.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { AptArchive } from '../../src/debian/apt.js';
import { HOST_SOURCES_FILE } from '../../src/debian/sources.js';
import { debianCache } from '../fixtures/pkg/helpers.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'coracle-mmdebstrap-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function mmdebstrapPackages(include: string[], name: string): Promise<string[]> {
  const list = join(work, `${name}.list`);
  const r = await execa(
    'mmdebstrap',
    [
      '--quiet',
      '--variant=extract',
      `--include=${include.join(',')}`,
      '--mode=root',
      '--skip=output/dev',
      '--skip=output/mknod',
      `--extract-hook=ls "$1"/var/cache/apt/archives/ > ${list}`,
      'bookworm',
      join(work, name),
      HOST_SOURCES_FILE,
    ],
    { stdin: 'ignore', reject: false },
  );
  if (r.exitCode !== 0) throw new Error(`mmdebstrap failed: ${r.stderr}`);
  return (await readFile(list, 'utf8'))
    .split('\n')
    .filter((f) => f.endsWith('.deb'))
    .map((f) => {
      const [n, v, a] = f.slice(0, -4).split('_') as [string, string, string];
      return `${n}=${decodeURIComponent(v)}:${a}`;
    })
    .sort();
}

describe('resolution agrees with mmdebstrap --variant=extract', () => {
  it.each([
    ['runc', ['runc']],
    ['sshd', ['dropbear-bin', 'busybox-static']],
  ])('%s', async (name, include) => {
    const apt = new AptArchive({ cacheDir: debianCache, sourcesFile: HOST_SOURCES_FILE, architecture: 'amd64' });
    const mine = (await apt.resolve(include)).map((p) => `${p.name}=${p.version}:${p.architecture}`).sort();
    expect(mine.length).toBeGreaterThan(include.length - 1);
    expect(await mmdebstrapPackages(include, name)).toEqual(mine);
  }, 300_000);
});

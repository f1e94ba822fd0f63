/**
 * `coracle cache verify [--repair]`: a corrupt blob, a missing one and the
 * debris of a killed writer are each found and named; --repair removes what
 * can be removed; a sound store passes (exit 0).
 */
import { readFile, writeFile, mkdtemp, rm, unlink, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, TEMP_DIR } from '../../src/oci/store/layout-store.js';
import { runCli } from '../helpers/cli.js';
import { writeImage, type WrittenImage } from '../helpers/oci-fixtures.js';

let dir: string;
let storeDir: string;
let img: WrittenImage;
let other: WrittenImage;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-verify-'));
  storeDir = join(dir, 'store');
  const s = await openStore(storeDir);
  img = await writeImage(s, 'v/a:1', { layers: [{ entries: [{ path: 'a', data: 'a'.repeat(5000) }] }] });
  other = await writeImage(s, 'v/b:1', { layers: [{ entries: [{ path: 'b', data: 'b'.repeat(7000) }] }] });
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const verify = (...more: string[]) => runCli(['--cache', storeDir, 'cache', 'verify', ...more]);
const blob = (d: string) => join(storeDir, 'blobs', 'sha256', d.slice(7));

describe('coracle cache verify', () => {
  it('a sound store passes', async () => {
    const r = await verify();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^checked \d+ blobs \(.+\): 0 corrupt, 0 missing, 0 leftovers$/);
  });

  it('a corrupt blob is named (exit 1); --repair removes it, after which it is reported missing', async () => {
    const layer = img.manifest.layers[0]!.digest;
    const b = await readFile(blob(layer));
    b[b.length >> 1] ^= 0xff;
    await writeFile(blob(layer), b);
    const r = await verify();
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^corrupt blob ${layer}: content hashes to sha256:[0-9a-f]{64}$`, 'm'));
    const fixed = await verify('--repair');
    expect(fixed.stdout).toContain(`corrupt blob ${layer}`);
    expect(fixed.stdout).toContain('(removed)');
    const after = await verify();
    expect(after.exitCode).toBe(1);
    expect(after.stdout).toContain(`missing blob ${layer}: an image in the store needs it`);
    expect(after.stdout).toMatch(/0 corrupt, 1 missing/);
  });

  it('a blob deleted from under an image is reported missing', async () => {
    const layer = other.manifest.layers[0]!.digest;
    await unlink(blob(layer));
    const r = await verify();
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`missing blob ${layer}`);
  });

  it('temporary files of a killed writer are removed when the store is next opened; a live writer\'s are kept', async () => {
    const tmp = join(storeDir, TEMP_DIR);
    // pid 2^22+1 is above Linux's pid_max limit: never a live process
    await writeFile(join(tmp, `blob-${2 ** 22 + 1}-0123456789ab`), 'half a blob');
    await writeFile(join(tmp, `blob-${process.pid}-0123456789ab`), 'being written');
    await verify();
    const left = await readdir(tmp);
    expect(left).toEqual([`blob-${process.pid}-0123456789ab`]);
  });
});

/**
 * A NoCloud seed ISO (volume label `cidata`, files `user-data` and
 * `meta-data`) for `--data`/`--user-data`, made with xorriso. The
 * cloud-init module's makeSeed can take over; this keeps the runner usable
 * on its own.
 */
import { execa } from 'execa';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoracleError } from '../errors.js';

export interface SeedContents {
  userData: string | Uint8Array;
  /** default: an instance-id derived from the user-data length and time */
  metaData?: string;
}

/** Write the seed ISO to `out` (atomically). */
export async function makeSeedIso(out: string, seed: SeedContents): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-seed-'));
  try {
    await writeFile(join(dir, 'user-data'), seed.userData);
    await writeFile(join(dir, 'meta-data'), seed.metaData ?? `instance-id: coracle-${Date.now().toString(36)}\n`);
    const tmp = `${out}.tmp`;
    const r = await execa(
      'xorriso',
      ['-as', 'mkisofs', '-quiet', '-o', tmp, '-V', 'cidata', '-J', '-R', join(dir, 'user-data'), join(dir, 'meta-data')],
      { reject: false },
    );
    if (r.exitCode !== 0) throw new CoracleError(`xorriso could not make the seed ISO: ${String(r.stderr).trim()}`);
    await rename(tmp, out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Seed ISO from a user-data file given on the command line. */
export async function seedIsoFromFile(out: string, userDataFile: string): Promise<void> {
  let data: Buffer;
  try {
    data = await readFile(userDataFile);
  } catch (e) {
    throw new CoracleError(`--data ${userDataFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  await makeSeedIso(out, { userData: data });
}

/**
 * The NoCloud seed ISO for `--data` / `--user-data`: a `cidata` volume with
 * `user-data` and `meta-data`, made by the cloud-init module's makeSeed.
 * `--user-data` must be valid user-data (errors name FILE:LINE:COL);
 * `--data` is attached as given, as LinuxKit attaches arbitrary data.
 */
import { readFile } from 'node:fs/promises';
import { makeSeed } from '../cloudinit/seed.js';
import { CoracleError } from '../errors.js';

export interface SeedContents {
  userData: string | Uint8Array;
  /** default: a generated instance-id (kept in stateDir when given) */
  metaData?: string;
  /** validate user-data and refuse it when invalid (default false) */
  validate?: boolean;
  /** keeps the generated instance-id across runs */
  stateDir?: string;
  /** name of the user-data in diagnostics */
  userDataName?: string;
}

/** Write the seed ISO to `out` (whole or not at all). */
export async function makeSeedIso(out: string, seed: SeedContents): Promise<void> {
  await makeSeed(
    {
      userData: Buffer.from(seed.userData),
      ...(seed.metaData !== undefined ? { metaData: seed.metaData } : {}),
      format: 'iso',
      onInvalid: seed.validate ? 'error' : 'ignore',
      ...(seed.stateDir !== undefined ? { stateDir: seed.stateDir } : {}),
      userDataName: seed.userDataName ?? 'user-data',
    },
    out,
  );
}

/** Seed ISO from a file given on the command line. */
export async function seedIsoFromFile(out: string, file: string, opts: { validate?: boolean; stateDir?: string } = {}): Promise<void> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (e) {
    const what = opts.validate ? '--user-data' : '--data';
    throw new CoracleError(`${what} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  await makeSeedIso(out, { userData: data, validate: opts.validate, stateDir: opts.stateDir, userDataName: file });
}

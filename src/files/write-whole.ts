import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { CoracleError } from '../errors.js';

/** Write a small file whole or not at all: a temporary name beside it, then a rename. `shown` names it in errors. */
export async function writeWhole(file: string, data: string | Buffer, shown = file): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new CoracleError(`cannot write ${shown}: ${(e as Error).message}`);
  }
}

/** Disks for `--disk`: created with qemu-img when missing. */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CoracleError } from '../errors.js';
import type { DiskSpec } from './options.js';

/** Default size of a disk that does not exist yet and has no size= */
export const DEFAULT_DISK_SIZE = '1G';

export async function ensureDisk(d: DiskSpec, qemuImg = 'qemu-img'): Promise<void> {
  if (existsSync(d.path)) return;
  await mkdir(dirname(d.path), { recursive: true });
  const tmp = `${d.path}.tmp`;
  const r = await execa(qemuImg, ['create', '-q', '-f', d.format, tmp, d.size ?? DEFAULT_DISK_SIZE], { reject: false });
  if (r.exitCode !== 0) throw new CoracleError(`--disk ${d.path}: qemu-img create failed: ${String(r.stderr).trim()}`);
  await rename(tmp, d.path);
}

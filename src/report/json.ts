/**
 * `--json` output: the documents the CLI prints on stdout for scripts. Their
 * shapes are the stable interface documented in README.md ("Machine-readable
 * output"); fields are only ever added. Progress and messages stay on stderr.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { LockedImage } from '../build/system-lock.js';

/** Bumped only when a field changes meaning or goes away. */
export const JSON_SCHEMA_VERSION = 1;

export interface BuildOutputJson {
  path: string;
  size: number;
  digest: string;
}

export interface BuildJson {
  schemaVersion: number;
  name: string;
  formats: string[];
  outputs: BuildOutputJson[];
  images: LockedImage[];
  lockFile?: string;
  durationMs: number;
}

export interface ShowTagJson {
  definition: string;
  reference: string;
  tag: string;
  platform: string;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return `sha256:${h.digest('hex')}`;
}

/** Size and digest of each output file (folders, if a format writes one, are listed with size 0 and no digest). */
export async function describeOutputs(paths: readonly string[]): Promise<BuildOutputJson[]> {
  const out: BuildOutputJson[] = [];
  for (const path of paths) {
    const st = await stat(path);
    out.push(st.isFile() ? { path, size: st.size, digest: await sha256File(path) } : { path, size: 0, digest: '' });
  }
  return out;
}

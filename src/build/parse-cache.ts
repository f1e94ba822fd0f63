/**
 * Parsed specs and image labels kept in the build cache, so a rebuild whose
 * spec files did not change loads neither the YAML parser nor the schema
 * library (together most of a warm rebuild's start-up). An entry is keyed
 * by the exact input bytes, the file names as given, the working folder
 * (relative `source:` paths resolve against it) and the running code's
 * identity (code-id.ts: the parser, the yaml and zod versions), so a new
 * Coracle never reads an old parse. A miss parses as before and stores
 * the result; the cache only ever holds whole entries (written by rename).
 * A spec that names seccomp profile files is parsed every time (the parse
 * reads those files as well).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeId } from './code-id.js';
import { writeWhole } from '../files/write-whole.js';
import type { ImageLabelConfig } from '../spec/types.js';
import type { SpecResult } from '../spec/parse.js';

const FORMAT = 'coracle-parse-cache/2';

async function cached<T>(dir: string, parts: unknown[], make: () => Promise<T>, keep: (v: T) => boolean = () => true): Promise<T> {
  const key = createHash('sha256')
    .update(JSON.stringify([FORMAT, await codeId(), ...parts]))
    .digest('hex');
  const file = join(dir, `${key}.json`);
  // synchronous: one small file, read on every build
  let hit: { value: T } | undefined;
  try {
    hit = JSON.parse(readFileSync(file, 'utf8')) as { value: T };
  } catch {
    hit = undefined;
  }
  if (hit !== undefined) return hit.value;
  const value = await make();
  if (!keep(value)) return value;
  // best effort: a cache that cannot be written only costs the next parse
  await import('node:fs/promises')
    .then(({ mkdir }) => mkdir(dir, { recursive: true }))
    .then(() => writeWhole(file, JSON.stringify({ value })))
    .catch(() => undefined);
  return value;
}

/** loadSpecs, from the cache when the same files hold the same bytes. Standard input (`-`) is always parsed. */
export async function loadSpecsCached(files: readonly string[], cacheDir: string): Promise<SpecResult> {
  const loadSpecs = async (f: readonly string[]) => (await import('../spec/load.js')).loadSpecs(f);
  if (files.length === 0 || files.includes('-')) return loadSpecs(files);
  const texts = files.map((f) => {
    try {
      return readFileSync(f);
    } catch {
      return undefined;
    }
  });
  if (texts.some((t) => t === undefined)) return loadSpecs(files); // let the parser say what is wrong
  const digests = texts.map((t) => createHash('sha256').update(t!).digest('hex'));
  // A spec naming seccomp profile files is never stored: the parse read those files too.
  const readsNoOtherFile = (r: SpecResult) => ![...r.spec.onboot, ...r.spec.onshutdown, ...r.spec.services].some((e) => e.seccompProfile !== undefined);
  const result = await cached(join(cacheDir, 'specs'), ['spec', process.cwd(), files, digests], () => loadSpecs(files), readsNoOtherFile);
  // `@pkg:` folders are checked on every build: they may have gone since
  const { missingPkgDefinitions } = await import('../spec/pkg-ref.js');
  const missing = await missingPkgDefinitions(result.spec);
  if (missing.length > 0) {
    const [{ DiagnosticsError }, { sortDiagnostics }] = await Promise.all([import('../errors.js'), import('../spec/parse.js')]);
    throw new DiagnosticsError(sortDiagnostics(missing));
  }
  return result;
}

/** parseImageLabelConfig, from the cache for a label seen before (errors are never cached; the name is in the key as it is in source locations). */
export function parseLabelCached(text: string, imageName: string, cacheDir: string): Promise<ImageLabelConfig> {
  return cached(join(cacheDir, 'labels'), ['label', imageName, text], async () => (await import('../spec/label.js')).parseImageLabelConfig(text, imageName));
}

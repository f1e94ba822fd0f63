/**
 * Parsed specs and image labels kept in the build cache, so a rebuild whose
 * spec files did not change loads neither the YAML parser nor the schema
 * library (together most of a warm rebuild's start-up). An entry is keyed
 * by the exact input bytes, the file names as given, the working folder
 * (relative `source:` paths resolve against it) and a fingerprint of the
 * parser itself (its own source files and the yaml and zod versions), so a
 * new Coracle never reads an old parse. A miss parses as before and stores
 * the result; the cache only ever holds whole entries (written by rename).
 * A spec that names seccomp profile files is parsed every time (the parse
 * reads those files as well).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeWhole } from '../files/write-whole.js';
import type { ImageLabelConfig } from '../spec/types.js';
import type { SpecResult } from '../spec/parse.js';

const FORMAT = 'coracle-parse-cache/1';
let fingerprint: Promise<string> | undefined;

/** What the parse depends on besides its input: the spec modules' code and the parser libraries' versions. */
function parserFingerprint(): Promise<string> {
  fingerprint ??= (async () => {
    const dir = fileURLToPath(new URL('../spec/', import.meta.url));
    const h = createHash('sha256').update(FORMAT);
    for (const n of (await readdir(dir)).sort()) if (/\.(js|ts)$/.test(n)) h.update(`\0${n}\0`).update(await readFile(join(dir, n)));
    const require = createRequire(import.meta.url);
    for (const lib of ['yaml', 'zod']) {
      const pkg = await readFile(require.resolve(`${lib}/package.json`), 'utf8').catch(() => '');
      h.update(`\0${lib}\0`).update(pkg);
    }
    return h.digest('hex');
  })();
  return fingerprint;
}

async function cached<T>(dir: string, parts: unknown[], make: () => Promise<T>, keep: (v: T) => boolean = () => true): Promise<T> {
  const key = createHash('sha256')
    .update(JSON.stringify([await parserFingerprint(), ...parts]))
    .digest('hex');
  const file = join(dir, `${key}.json`);
  const hit = await readFile(file, 'utf8').then(
    (s) => JSON.parse(s) as { value: T },
    () => undefined,
  );
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
  const texts = await Promise.all(files.map((f) => readFile(f).catch(() => undefined)));
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

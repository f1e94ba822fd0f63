/**
 * An identity of the code that is running, for caches whose entries hold
 * what this code computed (the build memo, the parse cache): a new
 * Coracle, or a source file edited in a work tree, never reads an older
 * entry. The bundle (scripts/bundle.mjs) carries the sha256 of its own
 * text; run from dist/ or src/ (the library, the tests), it is a digest of
 * the name, size and mtime of every module file beside this one's folder
 * and of the yaml and zod package versions, taken once per process.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Set in the bundle's first lines; not declared anywhere when running from dist/ or src/.
declare const __coracleCodeId: string | undefined;

let id: Promise<string> | undefined;

export function codeId(): Promise<string> {
  id ??= typeof __coracleCodeId === 'string' ? Promise.resolve(`bundle:${__coracleCodeId}`) : treeId();
  return id;
}

async function treeId(): Promise<string> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const files = (await readdir(root, { recursive: true })).filter((n) => /\.(js|ts|json)$/.test(n)).sort();
  const stats = await Promise.all(files.map((n) => stat(join(root, n)).then((s) => `${n}\0${s.size}\0${s.mtimeMs}`)));
  const h = createHash('sha256').update(`tree:${root}\0`).update(stats.join('\n'));
  const require = createRequire(import.meta.url);
  for (const lib of ['yaml', 'zod']) h.update(`\0${lib}\0`).update(await readFile(require.resolve(`${lib}/package.json`), 'utf8').catch(() => ''));
  return `tree:${h.digest('hex')}`;
}

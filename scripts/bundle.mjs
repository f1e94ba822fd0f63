// Packs the compiled CLI (dist/, from tsc) and its dependencies into one
// CommonJS file, dist/bundle/coracle.cjs, that bin/coracle.js runs through
// V8's code cache: a command then reads and compiles one file instead of
// resolving, reading and compiling ~150 modules (most of a warm rebuild's
// time was module loading). dist/ stays as it is: the library API, and the
// CLI's fallback whenever the bundle is missing or older than dist/.
// Dependencies are resolved from the project's node_modules.
import { createHash } from 'node:crypto';
import { readFile, rename, stat, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// node scripts/bundle.mjs [DIST]: DIST is tsc's output folder (default dist/)
const dist = process.argv[2] ? resolve(process.argv[2]) : join(root, 'dist');
const outDir = join(dist, 'bundle');
const entry = join(dist, 'cli', 'main.js');

// import.meta.url in a bundled file means that file's own place (parse-cache
// hashes the spec modules beside it; disk outputs find boot/ from it): each
// becomes the URL of the original file, relative to the bundle's folder.
const metaUrl = {
  name: 'import-meta-url-and-builtins',
  setup(b) {
    b.onLoad({ filter: /\.[cm]?js$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const builtinImport = /\bimport\((['"])(node:[\w/]+|zod|yaml)\1\)/g;
      if (!text.includes('import.meta.url') && !builtinImport.test(text)) return undefined;
      const rel = JSON.stringify(relative(outDir, args.path));
      // import() of a Node built-in (or of a package left out of the bundle) stays
      // import() in a CommonJS bundle, and import() fails inside vm.Script on Node 20
      // (the cache write of parse-cache was lost silently): load them with the
      // bundle's require instead.
      const contents = text.replaceAll('import.meta.url', `__coracleFileUrl(${rel})`).replace(builtinImport, (_m, q, name) => `Promise.resolve(__coracleRequire(${q}${name}${q}))`);
      return { contents, loader: 'js' };
    });
  },
};

await mkdir(outDir, { recursive: true });
const tmp = join(outDir, `coracle.cjs.tmp-${process.pid}`);
await build({
  entryPoints: [entry],
  outfile: tmp,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // minified (a quarter less to read at every start); keepNames keeps function and class names (errors, stack traces)
  legalComments: 'inline',
  minifyWhitespace: true,
  minifySyntax: true,
  minifyIdentifiers: true,
  keepNames: true,
  // The spec parser's libraries (half the bundle) are needed only when a spec is parsed, not on a
  // parse-cache hit: required from node_modules then (both ship CommonJS), not read at every start.
  external: ['zod', 'yaml'],
  logLevel: 'warning',
  plugins: [metaUrl],
  // top level of the bundle, where `require` is Node's (a module may shadow it)
  banner: { js: '"use strict";\nconst __coracleCodeId = "CORACLE_CODE_ID_PLACEHOLDER";\nconst __coracleRequire = require;\nconst __coracleFileUrl = (rel) => require("node:url").pathToFileURL(require("node:path").join(__dirname, rel)).href;' },
});
// The runner bin/coracle.js requires (src/cli/bundled.ts with what it imports): CommonJS, no ESM loader at start-up.
const runnerTmp = join(outDir, `runner.cjs.tmp-${process.pid}`);
await build({
  entryPoints: [join(dist, 'cli', 'bundled.js')],
  outfile: runnerTmp,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
  plugins: [metaUrl],
  banner: { js: '"use strict";\nconst __coracleRequire = require;' },
});
await rename(runnerTmp, join(outDir, 'runner.cjs'));

// The bundle names itself: the sha256 of its text with the placeholder in (src/build/code-id.ts).
const text = await readFile(tmp, 'utf8');
const codeId = createHash('sha256').update(text).digest('hex');
await writeFile(tmp, text.replace('CORACLE_CODE_ID_PLACEHOLDER', codeId));
// the bundle is only used while dist/cli/main.js is the file it was made from (tsc rewrites it every time)
const { mtimeMs } = await stat(entry);
await rename(tmp, join(outDir, 'coracle.cjs'));
await writeFile(join(outDir, 'stamp.json'), `${JSON.stringify({ main: mtimeMs })}\n`);

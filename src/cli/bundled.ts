/**
 * Running the CLI from dist/bundle/coracle.cjs (scripts/bundle.mjs) through
 * V8's code cache: the bundle is one file to read, and the functions a
 * command compiled last time are read back instead of compiled again. Node
 * 20 has no module compile cache, so the bundle is CommonJS, compiled with
 * vm.Script and its cachedData. One cache file per command word (a `build`
 * and a `run` compile different functions), written whole (temporary name,
 * rename) after the command when there was none or V8 refused it (another
 * Node, another bundle: V8 checks the source and its flags itself).
 *
 * The bundle is used only while it was made from the dist/ in place: tsc
 * rewrites dist/cli/main.js on every compile, and the bundle's stamp records
 * that file's mtime. Otherwise (no bundle, an older one) the caller runs
 * dist/cli/main.js as it is.
 *
 * bin/coracle.js (CommonJS: Node's ESM loader would cost every command its
 * start-up) requires this module as dist/bundle/runner.cjs, bundled with
 * what it imports, and calls start().
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { commandName } from './command-name.js';
import { VERSION } from './version.js';
import { traceMark } from '../progress/trace.js';

type Main = (argv: string[]) => Promise<number>;

/** Run the CLI for `argv` from `distDir` (the compiled CLI): the bundle when current, else dist/cli/main.js. Returns the exit code. */
export async function start(distDir: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const bundle = env.CORACLE_BUNDLE === '0' ? undefined : currentBundle(distDir);
  if (bundle !== undefined) return runBundle(bundle, argv, env);
  const { main } = (await import(pathToFileURL(join(distDir, 'cli', 'main.js')).href)) as { main: Main };
  return main(argv);
}

/** Where cache files live: $CORACLE_CODE_CACHE, else beside the default store's folder. */
export function codeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CORACLE_CODE_CACHE) return env.CORACLE_CODE_CACHE;
  const base = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'coracle-code-cache');
}

/** The bundle file, when it was made from the dist/ beside it; undefined otherwise. */
export function currentBundle(distDir: string): string | undefined {
  try {
    const stamp = JSON.parse(readFileSync(join(distDir, 'bundle', 'stamp.json'), 'utf8')) as { main?: number };
    if (stamp.main !== statSync(join(distDir, 'cli', 'main.js')).mtimeMs) return undefined;
    return join(distDir, 'bundle', 'coracle.cjs');
  } catch {
    return undefined;
  }
}

/** The start of every cache file name of one command word (any Node, any bundle). */
function cachePrefix(command: string | undefined): string {
  return `${command !== undefined && /^[a-z][a-z-]*$/.test(command) ? command : 'other'}-node-`;
}

/** The cache file's name for this command word, Node and bundle. */
export function cacheFileName(command: string | undefined, bundleStat: { size: number; mtimeMs: number }): string {
  return `${cachePrefix(command)}${process.version}-${process.arch}-${bundleStat.size}-${Math.trunc(bundleStat.mtimeMs)}.v8`;
}

/**
 * A run quicker than this (ms; CORACLE_CODE_CACHE_QUICK_MS) is a typical
 * one: its code cache holds what a warm rebuild compiles. A slow run (a
 * cold build compiles far more) writes its cache under another name, used
 * only until the first quick run writes the right one: a smaller cache
 * is read and deserialized faster on every start.
 */
const QUICK_RUN_MS = 1000;

/** Load the bundle (with the code cache when one fits) and run its main; returns the exit code. */
export async function runBundle(bundle: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  traceMark('cli: bundle runner loaded');
  const started = Date.now();
  const command = commandName(argv);
  const source = readFileSync(bundle, 'utf8').replace(/^#!.*/, '');
  const cacheFile = env.CORACLE_CODE_CACHE === 'off' ? undefined : join(codeCacheDir(env), cacheFileName(command, statSync(bundle)));
  const slowFile = cacheFile?.replace(/\.v8$/, '.slow.v8');
  let cachedData: Buffer | undefined;
  let fromSlowRun = false;
  for (const f of cacheFile !== undefined ? [cacheFile, slowFile!] : []) {
    try {
      cachedData = readFileSync(f);
      fromSlowRun = f === slowFile;
      break;
    } catch {
      cachedData = undefined;
    }
  }
  traceMark('cli: bundle and code cache read');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: bundle,
    ...(cachedData ? { cachedData } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  traceMark(`cli: bundle compiled${cachedData === undefined ? '' : script.cachedDataRejected ? ' (code cache refused)' : ' (code cache used)'}`);
  const mod = { exports: {} as { main?: Main } };
  const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
  traceMark('cli: bundle run');
  wrapper(mod.exports, createRequire(bundle), mod, bundle, dirname(bundle));
  traceMark('cli: bundle evaluated');
  const code = await mod.exports.main!(argv);
  if (cacheFile !== undefined) {
    const quickMs = Number(env.CORACLE_CODE_CACHE_QUICK_MS ?? QUICK_RUN_MS);
    const quick = Date.now() - started < quickMs;
    const unusable = cachedData === undefined || script.cachedDataRejected === true;
    if (unusable || (fromSlowRun && quick)) saveCache(quick ? cacheFile : slowFile!, cachePrefix(command), script.createCachedData());
  }
  return code;
}

/** Best effort: a cache that cannot be written only costs the next start-up. Older files of the same command go. */
function saveCache(file: string, prefix: string, data: Buffer): void {
  try {
    const dir = dirname(file);
    mkdirSync(dir, { recursive: true });
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, data);
    renameSync(tmp, file);
    for (const n of readdirSync(dir)) if (n !== basename(file) && n.startsWith(prefix) && n.endsWith('.v8')) rmSync(join(dir, n), { force: true });
  } catch {
    /* read-only home, full disk: run without a cache */
  }
}

/**
 * `coracle build`: a spec flows through a short pipeline —
 *   load + validate -> plan (from the memo, or resolve images and plan
 *   components: plan.ts) -> segments -> outputs
 * Each component (an init image, the kernel modules, a container bundle, a
 * volume, the files) becomes one cached initrd segment keyed by what it
 * holds, so a rebuild where nothing changed only concatenates cached
 * segments, and a changed file recompresses one small segment. Container
 * roots share segments so identical files are stored once (roots.ts).
 */
import { readFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { CoracleError } from '../errors.js';
import { cachedSegment, writeSegment, type BuiltSegment, type Compression, type InitrdEntry } from '../initrd/index.js';
import { FsTree } from '../initrd/tree.js';
import { parsePlatform, hostPlatform } from '../oci/platform.js';
import type { LayoutStore } from '../oci/store/layout-store.js';
import type { RegistryAccessOptions } from '../oci/transfer/index.js';
import type { Platform } from '../oci/types.js';
import { silentReporter, type Reporter } from '../progress/reporter.js';
import { traceMark } from '../progress/trace.js';
import { allocateIds } from '../runtime/ids.js';
import type { SystemSpec } from '../spec/types.js';
import { isPkgRef, pkgRefDir, relativePkgRef, shownPath } from '../spec/pkg-ref.js';
import { isDiskFormat, writeOutputs, type OutputFormat, type OutputSet } from '../outputs/index.js';
import { writeWhole } from '../files/write-whole.js';
import type { OciRuntime } from './boot-conf.js';
import { buildCacheDir, diskImageCacheDir } from './cache-dirs.js';
import { etcModulesText, finishFiles, sha, type Component, type Plan } from './component.js';
import { filesEntries } from './files.js';
import { specImages } from './images.js';
import { memoKey, readMemo, writeMemo, type BuildMemo } from './memo.js';
import { resolvePackageRefs, type PackageRefOptions } from './packages.js';
import { loadSpecsCached } from './parse-cache.js';
import { lockKey, lockedTarget, readSystemLock, systemLockPath, writeSystemLock, type LockedImage } from './system-lock.js';
import { statQuiet } from '../files/stat-quiet.js';

export interface BuildOptions extends Pick<RegistryAccessOptions, 'mirrors' | 'insecure'> {
  specFiles: string[];
  store: LayoutStore;
  outDir: string;
  /** Output base name; default the first spec file's name without .yml. */
  name?: string;
  /** One format or several (`--format` repeated); default kernel+initrd. */
  format?: OutputFormat | readonly OutputFormat[];
  platform?: string;
  /** Ask registries even for images the store holds. */
  pull?: boolean;
  compression?: Compression;
  level?: number;
  reporter?: Reporter;
  /** `@pkg:` folders whose image is missing are an error instead of being built. */
  noPkgBuild?: boolean;
  /** How `@pkg:` folders are planned and built (apt sources, .deb cache, org). */
  pkg?: PackageRefOptions['pkg'];
  /** Write NAME.lock.yml beside the first spec with the digest of every image used. */
  lock?: boolean;
  /** Build from the digests in NAME.lock.yml, failing on any image it lacks or that no longer matches. */
  locked?: boolean;
  /** The guest's OCI runtime, over the spec's `runtime:`. */
  runtime?: OciRuntime;
  /** `files:` sources may be read from outside the spec's folder. */
  allowOutsideSources?: boolean;
}

export interface BuildResult {
  name: string;
  spec: SystemSpec;
  outputs: string[];
  segments: BuiltSegment[];
  /** What every image reference resolved to, in the order the build uses them. */
  images: LockedImage[];
  /** The lock file written (--lock) or read (--locked). */
  lockFile?: string;
  /** How the build was planned: from the memo of an earlier build with the same inputs, or in full. */
  planned: 'memo' | 'full';
}

export function defaultBuildName(specFile: string): string {
  const b = basename(specFile);
  const ext = extname(b);
  return ext === '.yml' || ext === '.yaml' ? b.slice(0, -ext.length) : b;
}

export async function build(opts: BuildOptions): Promise<BuildResult> {
  const reporter = opts.reporter ?? silentReporter;
  if (opts.specFiles.length === 0) throw new CoracleError('build: no spec file given');
  const name = opts.name ?? defaultBuildName(opts.specFiles[0]!);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new CoracleError(`build: invalid output name "${name}"`);
  const asked = opts.format ?? 'kernel+initrd';
  const formats: readonly OutputFormat[] = [...new Set<OutputFormat>(typeof asked === 'string' ? [asked as OutputFormat] : (asked as readonly OutputFormat[]))];
  const diskFormats = formats.filter(isDiskFormat);
  const compression = opts.compression ?? 'lz4';
  const platform: Platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
  const store = opts.store;
  const cacheRoot = buildCacheDir(store.root);
  const segCache = join(cacheRoot, 'segments');

  // Fail before the work, not after it, when the outputs cannot go where asked.
  // missing (made later), or under a file (said when the outputs are written)
  const outStat = statQuiet(opts.outDir);
  if (outStat !== undefined && !outStat.isDirectory()) throw new CoracleError(`output folder ${opts.outDir} is not a folder`);

  traceMark('build: start');
  // 1. the spec
  const { spec, warnings } = await loadSpecsCached(opts.specFiles, cacheRoot);
  for (const w of warnings) reporter.warn(`${w.file}:${w.line}:${w.col}: ${w.message}`);
  const bootable = formats.find((f) => f !== 'tar');
  if (bootable !== undefined && !spec.kernel?.image) throw new CoracleError(`${opts.specFiles[0]}: the ${bootable} format needs a kernel image (kernel: image: ...)`);

  traceMark('build: spec loaded');
  // 2. images: `@pkg:` folders (built when missing) or the lock's digests
  if (opts.lock && opts.locked) throw new CoracleError('build: --lock and --locked exclude each other');
  const refs = specImages(spec);
  const lockFile = opts.lock || opts.locked ? systemLockPath(opts.specFiles[0]!, name) : undefined;
  const pkgRefs = { store, reporter, ...(opts.pkg ? { pkg: opts.pkg } : {}), ...(opts.noPkgBuild ? { noBuild: true } : {}) };
  const targets = opts.locked ? await lockedTargets(refs, lockFile!, pkgRefs) : await resolvePackageRefs(refs, pkgRefs);
  const segOpts = { compression, cacheDir: segCache, ...(opts.level !== undefined ? { level: opts.level } : {}) };

  // 3. the plan: from the memo of an earlier build with the same inputs, else made here
  // (a `--pull` build asks registries, a tar output needs every entry: both always plan)
  const memoAllowed = !opts.pull && !formats.includes('tar') && process.env.CORACLE_BUILD_MEMO !== '0';
  const key = memoAllowed
    ? await memoKey({ spec, storeRoot: store.root, targets, options: { platform, runtime: opts.runtime ?? null } })
    : undefined;
  const memo = key !== undefined ? await readMemo(cacheRoot, key) : undefined;
  const fromMemo = memo ? await planFromMemo(memo, spec, opts, segOpts) : undefined;
  traceMark(fromMemo ? 'build: planned (memo)' : 'build: memo missed');
  const plan = fromMemo ?? (await (await import('./plan.js')).planFully(spec, refs, targets, { opts, store, platform, reporter, cacheRoot }));
  const { components, kernel, resolved } = plan;
  // the tools and the kernel's EFI stub, checked before the segments are made
  if (kernel && diskFormats.length > 0) await (await import('../outputs/disk/index.js')).checkDiskFormats(diskFormats, kernel.kernel, `kernel image ${spec.kernel!.image}`);

  if (formats.every((f) => f === 'tar')) {
    const set: OutputSet = {
      name,
      cmdline: spec.kernel?.cmdline ?? '',
      segments: [],
      rootfs: () => mergedRootfs(components),
      ...(kernel ? { kernel: kernel.kernel } : {}),
    };
    const outputs = await writeOutputs(opts.outDir, formats, set);
    return { name, spec, outputs: [...outputs, await recordImages(opts, name, resolved, lockFile)], segments: [], images: resolved, planned: fromMemo ? 'memo' : 'full', ...(lockFile ? { lockFile } : {}) };
  }

  traceMark('build: components planned');
  // 4. segments: the cache is asked for all of them at once, then the missing ones are made in order
  const hits = await Promise.all(
    components.map((c) => c.hit ?? (c.key !== undefined ? cachedSegment(c.key, { ...segOpts, name: c.name, dedupe: c.dedupe ?? false }) : undefined)),
  );
  const segments: BuiltSegment[] = [];
  for (const [i, c] of components.entries()) {
    const hit = hits[i];
    if (hit) {
      segments.push(hit);
      continue;
    }
    const task = reporter.task(`segment ${c.name}`);
    try {
      const s = await writeSegment(await c.entries(), { ...segOpts, name: c.name, ...(c.key !== undefined ? { key: c.key } : {}), dedupe: c.dedupe ?? false });
      task.done(s.cached ? 'cached' : `${s.entries} entries, ${(s.size / 1048576).toFixed(1)} MiB`);
      segments.push(s);
    } catch (e) {
      task.fail();
      throw e;
    }
  }

  traceMark('build: segments ready');
  // 5. outputs, all or nothing
  const set: OutputSet = {
    name,
    cmdline: spec.kernel?.cmdline ?? '',
    segments,
    ...(kernel ? { kernel: kernel.kernel } : {}),
    ...(kernel?.vmlinux ? { vmlinux: kernel.vmlinux } : {}),
    ...(kernel?.ucode ? { ucode: kernel.ucode } : {}),
    // what the outputs hold, so a rebuild keeps the unchanged ones instead of copying them again
    stampFile: join(cacheRoot, 'outputs', `${sha([resolve(opts.outDir), name])}.json`),
    diskCacheDir: diskImageCacheDir(store.root),
    ...(spec.kernel?.image ? { kernelName: `kernel image ${spec.kernel.image}` } : {}),
    ...(formats.includes('tar') ? { rootfs: () => mergedRootfs(components) } : {}),
  };
  const outputs = await writeOutputs(opts.outDir, formats, set);
  traceMark('build: outputs written');
  if (key !== undefined && !fromMemo) await writeMemo(cacheRoot, key, plan.memo);
  return { name, spec, outputs: [...outputs, await recordImages(opts, name, resolved, lockFile)], segments, images: resolved, planned: fromMemo ? 'memo' : 'full', ...(lockFile ? { lockFile } : {}) };
}

/**
 * The plan an earlier build made from the same inputs, with this build's
 * `files:`; undefined when it cannot be used (a segment gone from the
 * cache, a different /etc/modules in `files:`), and the build plans again.
 */
async function planFromMemo(memo: BuildMemo, spec: SystemSpec, opts: BuildOptions, segOpts: { compression: Compression; cacheDir: string; level?: number }): Promise<Plan | undefined> {
  const initDirs = new Set(memo.initDirs);
  const [files, hits] = await Promise.all([
    filesEntries({ spec, ids: allocateIds(spec), existingDirs: initDirs, ...(opts.allowOutsideSources ? { allowOutsideSources: true } : {}) }),
    Promise.all(memo.components.map((c) => cachedSegment(c.key, { ...segOpts, name: c.name, dedupe: c.dedupe ?? false }))),
  ]);
  if (hits.some((h) => h === undefined)) return undefined;
  if ((await etcModulesText(files)) !== memo.etcModules) return undefined;
  const notPlanned = async (): Promise<never> => {
    throw new CoracleError('internal: a segment planned by an earlier build was asked for its entries');
  };
  const components: Component[] = memo.components.map((c, i) => ({ name: c.name, key: c.key, ...(c.dedupe ? { dedupe: true } : {}), hit: hits[i]!, entries: notPlanned }));
  const filesComponent = finishFiles(spec, files, initDirs, memo.bootConf);
  return { components: filesComponent ? [...components, filesComponent] : components, ...(memo.kernel ? { kernel: memo.kernel } : {}), resolved: memo.images, memo };
}


/**
 * NAME-images.json in the output folder (what each reference resolved to),
 * and with --lock the system lock beside the spec.
 */
async function recordImages(opts: BuildOptions, name: string, images: LockedImage[], lockFile: string | undefined): Promise<string> {
  const specDir = dirname(resolve(opts.specFiles[0]!));
  if (opts.lock) await writeSystemLock(lockFile!, images, basename(opts.specFiles[0]!));
  const file = join(opts.outDir, `${name}-images.json`);
  const shown = images.map((i) => ({ ...i, image: isPkgRef(i.image) ? relativePkgRef(i.image, specDir) : i.image }));
  const text = `${JSON.stringify({ name, images: shown }, null, 2)}\n`;
  // as with the other outputs, an unchanged one is left alone (warm rebuilds write nothing)
  let old: string | undefined;
  try {
    old = readFileSync(file, 'utf8');
  } catch {
    old = undefined;
  }
  if (old === text) return file;
  await writeWhole(file, text);
  return file;
}

/** --locked: each reference's locked digest; a `@pkg:` image not in the store is rebuilt and must come out the same. */
async function lockedTargets(refs: readonly string[], lockFile: string, pkg: PackageRefOptions): Promise<Map<string, string>> {
  const lock = await readSystemLock(lockFile);
  const out = new Map<string, string>();
  for (const ref of refs) {
    const shown = isPkgRef(ref) ? shownPath(pkgRefDir(ref)) : ref;
    const l = lock.get(lockKey(ref));
    if (!l) throw new CoracleError(`--locked: image ${shown} is not in ${lockFile}; run \`coracle build --lock\` to add it`);
    if (isPkgRef(ref) && !(await pkg.store.hasBlob(l.digest))) {
      const built = (await resolvePackageRefs([ref], pkg)).get(ref)!;
      const d = await pkg.store.getRef(built);
      if (d?.digest !== l.digest)
        throw new CoracleError(`--locked: image ${shown} builds to ${built} (${d?.digest}), but ${lockFile} has ${l.digest}: its definition or Debian packages changed (\`coracle build --lock\` accepts the change)`);
    }
    out.set(ref, lockedTarget(l));
  }
  return out;
}

/** Every component's entries merged in order, as the kernel would unpack the segments. */
async function mergedRootfs(components: readonly Component[]): Promise<InitrdEntry[]> {
  const tree = new FsTree();
  for (const c of components) for (const e of await c.entries()) tree.set(e);
  return tree.entries();
}


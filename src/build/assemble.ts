/**
 * `coracle build`: a spec flows through a short pipeline —
 *   load + validate -> resolve images -> plan components -> segments -> outputs
 * Each component (an init image, the kernel modules, a container bundle, a
 * volume, the files) becomes one cached initrd segment keyed by what it
 * holds, so a rebuild where nothing changed only concatenates cached
 * segments, and a changed file recompresses one small segment. Container
 * roots share segments so identical files are stored once (roots.ts).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { CoracleError } from '../errors.js';
import { cachedSegment, writeSegment, type BuiltSegment, type Compression, type InitrdEntry } from '../initrd/index.js';
import { FsTree, dirChain } from '../initrd/tree.js';
import { parsePlatform, hostPlatform } from '../oci/platform.js';
import type { LayoutStore } from '../oci/store/layout-store.js';
import type { RegistryAccessOptions } from '../oci/transfer/index.js';
import type { Platform } from '../oci/types.js';
import { silentReporter, type Reporter } from '../progress/reporter.js';
import { traceMark } from '../progress/trace.js';
import { allocateIds } from '../runtime/ids.js';
import { loadSpecsCached } from './parse-cache.js';
import type { KernelSpec, SystemSpec } from '../spec/types.js';
import { bundleEntries, planContainers, VOLUMES_DIR } from './containers.js';
import { planRoots, rootsEntries } from './roots.js';
import { filesEntries } from './files.js';
import { resolveImages, specImages, type ResolvedBuildImage } from './images.js';
import { kernelParts, modulesEntries, type KernelParts } from './kernel.js';
import { ETC_MODULES_FILE, initModuleLists, parseModuleList, trimModules, type InitModuleLists } from './modules.js';
import { isDiskFormat, writeOutputs, type OutputFormat, type OutputSet } from '../outputs/index.js';
import { checkDiskFormats } from '../outputs/disk/index.js';
import { unpackImage, type DroppedEntry } from './unpack.js';
import { droppedReports, layerPolicy, layerPolicyKey } from './layer-policy.js';
import { buildCacheDir, diskImageCacheDir } from './cache-dirs.js';
import { writeWhole } from '../files/write-whole.js';
import { resolvePackageRefs, type PackageRefOptions } from './packages.js';
import { lockKey, lockedTarget, readSystemLock, systemLockPath, writeSystemLock, type LockedImage } from './system-lock.js';
import { isPkgRef, pkgRefDir, relativePkgRef, shownPath } from '../spec/pkg-ref.js';
import { bootConfEntries, chooseRuntime, containerdBlocker, runtimesIn, type BootConf, type OciRuntime } from './boot-conf.js';

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
}

/** One initrd segment to be: a content key known up front, entries made only on a cache miss. */
interface Component {
  name: string;
  /** Caller's content key; undefined lets the writer hash the entries. */
  key?: string;
  dedupe?: boolean;
  entries: () => Promise<InitrdEntry[]>;
}

export function defaultBuildName(specFile: string): string {
  const b = basename(specFile);
  const ext = extname(b);
  return ext === '.yml' || ext === '.yaml' ? b.slice(0, -ext.length) : b;
}

function sha(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
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
  const outStat = await stat(opts.outDir).catch(() => undefined);
  if (outStat !== undefined && !outStat.isDirectory()) throw new CoracleError(`output folder ${opts.outDir} is not a folder`);

  traceMark('build: start');
  // 1. the spec
  const { spec, warnings } = await loadSpecsCached(opts.specFiles, cacheRoot);
  for (const w of warnings) reporter.warn(`${w.file}:${w.line}:${w.col}: ${w.message}`);
  const bootable = formats.find((f) => f !== 'tar');
  if (bootable !== undefined && !spec.kernel?.image) throw new CoracleError(`${opts.specFiles[0]}: the ${bootable} format needs a kernel image (kernel: image: ...)`);

  traceMark('build: spec loaded');
  // 2. images: `@pkg:` folders (built when missing) or the lock's digests, then store or registry
  if (opts.lock && opts.locked) throw new CoracleError('build: --lock and --locked exclude each other');
  const refs = specImages(spec);
  const lockFile = opts.lock || opts.locked ? systemLockPath(opts.specFiles[0]!, name) : undefined;
  const pkgRefs = { store, reporter, ...(opts.pkg ? { pkg: opts.pkg } : {}), ...(opts.noPkgBuild ? { noBuild: true } : {}) };
  const targets = opts.locked ? await lockedTargets(refs, lockFile!, pkgRefs) : await resolvePackageRefs(refs, pkgRefs);
  const images = await resolveImages(store, refs, {
    platform,
    reporter,
    targets,
    ...(opts.pull ? { pull: true } : {}),
    ...(opts.mirrors ? { mirrors: opts.mirrors } : {}),
    ...(opts.insecure !== undefined ? { insecure: opts.insecure } : {}),
  });
  traceMark('build: images resolved');
  const img = (ref: string): ResolvedBuildImage => images.get(ref)!;
  // Devices and setuid/setgid files in layers: one policy for the build, in every image-made segment's key.
  const layers = layerPolicy(spec);
  const policyKey = layerPolicyKey(layers);
  const trees = new Map<string, Promise<FsTree>>();
  const loadTree = (i: ResolvedBuildImage): Promise<FsTree> => {
    let t = trees.get(i.descriptor.digest);
    if (!t) {
      const dropped: DroppedEntry[] = [];
      t = unpackImage(store, { name: i.reference, manifest: i.manifest, config: i.config }, { layers, onDropped: (d) => dropped.push(d) }).then((tree) => {
        for (const line of droppedReports(i.reference, dropped)) reporter.warn(line);
        return tree;
      });
      trees.set(i.descriptor.digest, t);
    }
    return t;
  };

  const resolved: LockedImage[] = refs.map((ref) => {
    const i = images.get(ref)!;
    return { image: ref, reference: i.reference, digest: i.top.digest, mediaType: i.top.mediaType };
  });

  // 3. components
  const ids = allocateIds(spec);
  const components: Component[] = [];
  const initDirs = new Set<string>();
  const runtimes = new Set<OciRuntime>();
  const initLists: InitModuleLists[] = [];
  for (const [i, ref] of spec.init.entries()) {
    const image = img(ref);
    const listing = await initListing(cacheRoot, image, loadTree);
    for (const d of listing.dirs) initDirs.add(d);
    for (const r of listing.runtimes) runtimes.add(r);
    if (spec.kernel?.modules !== 'all') initLists.push(await initModuleLists(cacheRoot, image, loadTree));
    // Init images after the first may land on paths an earlier one holds.
    components.push(
      i === 0
        ? { name: `init/${i}`, key: sha(['coracle-init/1', image.descriptor.digest, policyKey]), entries: async () => (await loadTree(image)).entries() }
        : { name: `init/${i}`, key: sha(['coracle-init/1', image.descriptor.digest, policyKey, 'replace']), entries: async () => replacing((await loadTree(image)).entries()) },
    );
  }
  const files = await filesEntries({ spec, ids, existingDirs: initDirs, ...(opts.allowOutsideSources ? { allowOutsideSources: true } : {}) });
  let kernel: KernelParts | undefined;
  if (spec.kernel?.image) {
    kernel = await kernelParts(store, img(spec.kernel.image), spec.kernel, join(cacheRoot, 'kernel'));
    const k = kernel;
    if (k.modulesTar !== undefined) components.push(await modulesComponent(k, spec.kernel, img(spec.kernel.image).reference, initLists, files, reporter));
  }
  traceMark('build: init, files, kernel planned');
  // Container roots first (identical files stored once), then each bundle's small segment of generated files.
  const plans = await planContainers({ spec, images, ids, loadTree, cacheDir: cacheRoot });
  traceMark('build: containers planned');
  const askedRuntime = opts.runtime ? { runtime: opts.runtime, option: true } : spec.runtime ? { runtime: spec.runtime, ...(spec.runtimeLoc ? { loc: spec.runtimeLoc } : {}) } : undefined;
  const blocker = containerdBlocker(plans.filter((p) => p.section === 'onboot'));
  const bootConf: BootConf = { runtime: chooseRuntime(askedRuntime, runtimes), containerdEarly: blocker === undefined, ...(blocker ? { containerdAfter: blocker } : {}) };
  for (const group of planRoots(plans)) components.push({ name: group.name, key: sha([group.key, policyKey]), entries: () => rootsEntries(group, loadTree) });
  for (const plan of plans) components.push({ name: plan.bundle.replace(/^containers\//, ''), key: plan.key, entries: async () => bundleEntries(plan) });
  for (const v of spec.volumes) {
    const dir = `${VOLUMES_DIR}/${v.name}`;
    const image = v.image ? img(v.image) : undefined;
    components.push({
      name: `volumes/${v.name}`,
      key: sha(['coracle-volume/1', dir, image?.descriptor.digest ?? null, image ? policyKey : null]),
      entries: async () => [...dirChain(dir), ...(image ? (await loadTree(image)).entries({ prefix: dir }) : [])],
    });
  }
  // boot.conf travels with `files:` (one small segment that changes with the spec)
  if (spec.init.length > 0) files.push(...bootConfEntries(bootConf, new Set([...initDirs, ...files.filter((e) => e.type === 'dir').map((e) => e.path)])));
  if (files.length > 0) components.push({ name: 'files', entries: async () => replacing(files) });
  // the tools and the kernel's EFI stub, checked before the segments are made
  if (kernel && diskFormats.length > 0) await checkDiskFormats(diskFormats, kernel.kernel, `kernel image ${spec.kernel!.image}`);

  if (formats.every((f) => f === 'tar')) {
    const set: OutputSet = {
      name,
      cmdline: spec.kernel?.cmdline ?? '',
      segments: [],
      rootfs: () => mergedRootfs(components),
      ...(kernel ? { kernel: kernel.kernel } : {}),
    };
    const outputs = await writeOutputs(opts.outDir, formats, set);
    return { name, spec, outputs: [...outputs, await recordImages(opts, name, resolved, lockFile)], segments: [], images: resolved, ...(lockFile ? { lockFile } : {}) };
  }

  traceMark('build: components planned');
  // 4. segments
  const segments: BuiltSegment[] = [];
  const segOpts = { compression, cacheDir: segCache, ...(opts.level !== undefined ? { level: opts.level } : {}) };
  for (const c of components) {
    const hit = c.key !== undefined ? await cachedSegment(c.key, { ...segOpts, name: c.name, dedupe: c.dedupe ?? false }) : undefined;
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
  return { name, spec, outputs: [...outputs, await recordImages(opts, name, resolved, lockFile)], segments, images: resolved, ...(lockFile ? { lockFile } : {}) };
}

/**
 * The modules segment: the whole tarball for `kernel.modules: all`, else
 * the boot set of the (last) init image that has one, /etc/modules (from
 * `files:` or the init images) and `kernel.modules`, with dependencies.
 */
async function modulesComponent(
  k: KernelParts,
  spec: KernelSpec,
  reference: string,
  initLists: readonly InitModuleLists[],
  files: readonly InitrdEntry[],
  reporter: Reporter,
): Promise<Component> {
  const what = `kernel image ${spec.image} modules`;
  const whole: Component = { name: 'modules', key: sha([k.modulesKey!, 'replace']), entries: async () => replacing(await modulesEntries(k.modulesTar!, what)) };
  if (spec.modules === 'all') return whole;
  const boot = [...initLists].reverse().find((l) => l.boot.length > 0)?.boot ?? [];
  const etcFile = files.find((e) => e.path === ETC_MODULES_FILE);
  const etc = etcFile ? parseModuleList(await entryText(etcFile)) : ([...initLists].reverse().find((l) => l.etc.length > 0)?.etc ?? []);
  const required = spec.modules ?? [];
  const optional = [...new Set([...boot, ...etc])].filter((n) => !required.includes(n));
  return {
    name: 'modules',
    key: sha([k.modulesKey!, 'coracle-modules-trimmed/2', [...required].sort(), [...optional].sort(), 'replace']),
    entries: async () => {
      const t = await trimModules(k.modulesTar!, { required, optional }, what);
      if (t === undefined) {
        if (required.length)
          throw new CoracleError(`${where(spec, 0)}: kernel.modules: ${reference} has no modules.dep to find modules in; use kernel.modules: all`);
        reporter.warn(`${reference}: its modules tarball has no modules.dep; the initrd carries all of it`);
        return replacing(await modulesEntries(k.modulesTar!, what));
      }
      const unknown = t.missing;
      if (unknown.length) {
        const i = required.indexOf(unknown[0]!);
        const more = unknown.length > 1 ? ` (and ${unknown.slice(1).map((n) => `"${n}"`).join(', ')})` : '';
        throw new CoracleError(`${where(spec, i)}: kernel.modules: kernel ${t.version} of ${reference} has no module "${unknown[0]}"${more}, neither loadable nor built in`);
      }
      // the init skips what the kernel lacks; a user's /etc/modules hears about it
      const missingEtc = t.skipped.filter((n) => etc.includes(n) && !boot.includes(n));
      if (etcFile && missingEtc.length) reporter.warn(`/${ETC_MODULES_FILE} names ${missingEtc.join(', ')}, which kernel ${t.version} does not have`);
      return replacing(t.entries);
    },
  };
}

function where(spec: KernelSpec, i: number): string {
  const l = spec.moduleLocs?.[i] ?? spec.fieldLocs?.modules ?? spec.loc;
  return `${l.file}:${l.line}:${l.col}`;
}

async function entryText(e: InitrdEntry): Promise<string> {
  if (e.data?.kind === 'buffer') return Buffer.from(e.data.data).toString('utf8');
  if (e.data?.kind === 'file') return (await readFile(e.data.path)).subarray(e.data.offset ?? 0, e.data.size !== undefined ? (e.data.offset ?? 0) + e.data.size : undefined).toString('utf8');
  return '';
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
  if ((await readFile(file, 'utf8').catch(() => undefined)) === text) return file;
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

/**
 * Entries of a component that may land on paths an earlier segment holds
 * (a later init image, the modules, `files:`): the kernel opens an existing
 * regular file in place, which would write through to every hardlink of it
 * (busybox's applets), so the writer unlinks such paths first.
 */
function replacing(entries: InitrdEntry[]): InitrdEntry[] {
  return entries.map((e) => (e.type === 'file' || e.type === 'hardlink' ? { ...e, replace: true } : e));
}

/** Every component's entries merged in order, as the kernel would unpack the segments. */
async function mergedRootfs(components: readonly Component[]): Promise<InitrdEntry[]> {
  const tree = new FsTree();
  for (const c of components) for (const e of await c.entries()) tree.set(e);
  return tree.entries();
}

interface InitListing {
  /** Directories it creates (so `files:` leaves their metadata alone). */
  dirs: string[];
  /** OCI runtimes it holds (crun, runc). */
  runtimes: OciRuntime[];
}

/** What the build needs to know of an init image, cached per image digest so warm builds need not unpack the image. */
async function initListing(cacheRoot: string, image: ResolvedBuildImage, loadTree: (i: ResolvedBuildImage) => Promise<FsTree>): Promise<InitListing> {
  const dir = join(cacheRoot, 'listings');
  const file = join(dir, `${image.descriptor.digest.replace(':', '-')}.v2.json`);
  const cached = await readFile(file, 'utf8').then(
    (s) => JSON.parse(s) as InitListing,
    () => undefined,
  );
  if (cached) return cached;
  const entries = (await loadTree(image)).entries();
  const listing: InitListing = {
    dirs: entries.filter((e) => e.type === 'dir').map((e) => e.path),
    runtimes: runtimesIn(entries.filter((e) => e.type !== 'dir').map((e) => e.path)),
  };
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(listing));
  await rename(tmp, file);
  return listing;
}

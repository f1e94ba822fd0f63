/**
 * Planning a build from scratch: every image resolved (store, then a
 * registry) and read, then one component per init image, the kernel's
 * modules, the container roots and bundles and the volumes, each with the
 * content key its segment is cached under. A build whose memo fits
 * (memo.ts) never loads this module.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoracleError } from '../errors.js';
import type { InitrdEntry } from '../initrd/index.js';
import { FsTree, dirChain } from '../initrd/tree.js';
import type { LayoutStore } from '../oci/store/layout-store.js';
import type { Platform } from '../oci/types.js';
import type { Reporter } from '../progress/reporter.js';
import { traceMark } from '../progress/trace.js';
import { allocateIds } from '../runtime/ids.js';
import type { KernelSpec, SystemSpec } from '../spec/types.js';
import type { BuildOptions } from './assemble.js';
import { chooseRuntime, containerdBlocker, runtimesIn, type BootConf, type OciRuntime } from './boot-conf.js';
import { entryText, etcModulesText, finishFiles, replacing, sha, type Component, type Plan } from './component.js';
import { bundleEntries, planContainers, VOLUMES_DIR } from './containers.js';
import { filesEntries } from './files.js';
import { resolveImages, type ResolvedBuildImage } from './images.js';
import { kernelParts, modulesEntries, type KernelParts } from './kernel.js';
import { droppedReports, layerPolicy, layerPolicyKey } from './layer-policy.js';
import type { BuildMemo } from './memo.js';
import { ETC_MODULES_FILE, initModuleLists, parseModuleList, trimModules, type InitModuleLists } from './modules.js';
import { planRoots, rootsEntries } from './roots.js';
import type { LockedImage } from './system-lock.js';
import { unpackImage, type DroppedEntry } from './unpack.js';

export interface PlanContext {
  opts: BuildOptions;
  store: LayoutStore;
  platform: Platform;
  reporter: Reporter;
  cacheRoot: string;
}

/** Resolve every image (store, then registry) and plan every component from the spec and the images. */
export async function planFully(spec: SystemSpec, refs: readonly string[], targets: ReadonlyMap<string, string>, ctx: PlanContext): Promise<Plan> {
  const { opts, store, platform, reporter, cacheRoot } = ctx;
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
  const memo: BuildMemo = {
    components: components.map((c) => ({ name: c.name, key: c.key!, ...(c.dedupe ? { dedupe: true } : {}) })),
    ...(kernel ? { kernel } : {}),
    initDirs: [...initDirs],
    ...(spec.init.length > 0 ? { bootConf } : {}),
    images: resolved,
    etcModules: await etcModulesText(files),
  };
  const filesComponent = finishFiles(spec, files, initDirs, memo.bootConf);
  return { components: filesComponent ? [...components, filesComponent] : components, ...(kernel ? { kernel } : {}), resolved, memo };
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

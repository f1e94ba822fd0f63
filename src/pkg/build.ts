import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { CoracleError, formatDiagnostic } from '../errors.js';
import { AptArchive, MissingVersionError, UnknownPackageError, type ResolvedPackage } from '../debian/apt.js';
import { HOST_SOURCES_FILE } from '../debian/sources.js';
import type { ContentStore } from '../oci/store/content-store.js';
import { canonicalReference } from '../oci/ref.js';
import { formatPlatform, parsePlatform } from '../oci/platform.js';
import type { Descriptor, Platform } from '../oci/types.js';
import { silentReporter, type Reporter } from '../progress/reporter.js';
import { loadDefinition, type PackageDefinition } from './definition.js';
import { validateLabel } from './label.js';
import { SBOM_DIGEST_ANNOTATION, SBOM_DIR, SBOM_PATH_ANNOTATION, spdxDocument } from './sbom.js';
import { stageRoot, walk } from './stage.js';
import { layoutKernel } from './kernel.js';
import { globToRegExp } from './glob.js';
import { PACKAGE_LOCK_FILE, PACKAGE_LOCK_VERSION, lockDisplayPath, lockRequest, readPackageLock, sameRequest, writePackageLock, type PackageLock } from './lock.js';
import { writeImageBlobs } from './image.js';

/** Bumped whenever the builder's output for the same inputs changes: part of every tag. */
export const BUILDER_VERSION = 'coracle-pkg-1';
/** Used when SOURCE_DATE_EPOCH is unset: every entry's mtime and the config's `created`. */
export const DEFAULT_SOURCE_DATE_EPOCH = 0;
export const DEFAULT_ORG = 'coracle';

export interface PkgOptions {
  store: ContentStore;
  /** .deb cache and private apt state (default `<store>/debian`), shareable across stores. */
  debianCacheDir?: string;
  /** deb822 sources to resolve against (default the host's debian.sources). */
  sourcesFile?: string;
  /** `linux/amd64` (default). */
  platform?: string;
  /** Organisation / repository prefix (default `coracle`; may include a registry host). */
  org?: string;
  /** Override the content-derived tag. */
  tag?: string;
  /** Rebuild even when the ref already exists. */
  force?: boolean;
  /** Default: $SOURCE_DATE_EPOCH, else 0. */
  sourceDateEpoch?: number;
  reporter?: Reporter;
  /** Refresh apt lists older than this (ms). */
  aptListsMaxAgeMs?: number;
  /** Resolve against the archive even when the definition has a build.lock. */
  ignoreLock?: boolean;
}

export interface PkgPlan {
  definition: PackageDefinition;
  platform: Platform;
  packages: ResolvedPackage[];
  /** The content-derived tag (or --tag). */
  tag: string;
  /** Full canonical reference: docker.io/coracle/NAME:TAG. */
  ref: string;
  sourceDateEpoch: number;
}

export interface PkgBuildResult extends PkgPlan {
  /** false when the ref already existed and nothing was built. */
  built: boolean;
  /** The index the ref points at. */
  descriptor: Descriptor;
  manifestDigest?: string;
  /** Compressed layer size (bytes), when built. */
  layerSize?: number;
  /** Uncompressed content size (bytes), when built. */
  tarSize?: number;
}

const DEBIAN_ARCH: Record<string, string> = {
  amd64: 'amd64',
  arm64: 'arm64',
  arm: 'armhf',
  '386': 'i386',
  ppc64le: 'ppc64el',
  s390x: 's390x',
  riscv64: 'riscv64',
};

export function debianArchitecture(p: Platform): string {
  const a = DEBIAN_ARCH[p.architecture];
  if (!a || p.os !== 'linux') throw new CoracleError(`platform ${formatPlatform(p)} has no Debian architecture`);
  return a;
}

function epochFrom(opts: PkgOptions): number {
  if (opts.sourceDateEpoch !== undefined) return opts.sourceDateEpoch;
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env !== undefined && env !== '') {
    if (!/^\d+$/.test(env)) throw new CoracleError(`SOURCE_DATE_EPOCH must be a number of seconds, got "${env}"`);
    return Number(env);
  }
  return DEFAULT_SOURCE_DATE_EPOCH;
}

/** The .deb/apt cache (also home of build-step caches such as GOCACHE). */
export function debianCacheDir(opts: PkgOptions): string {
  // Absolute: apt.conf and build steps (GOCACHE) are handed these paths.
  return resolve(opts.debianCacheDir ?? process.env.CORACLE_DEBIAN_CACHE ?? join(opts.store.root, 'debian'));
}

export function aptFor(opts: PkgOptions, platform: Platform): AptArchive {
  return new AptArchive({
    cacheDir: debianCacheDir(opts),
    sourcesFile: opts.sourcesFile ?? HOST_SOURCES_FILE,
    architecture: debianArchitecture(platform),
    listsMaxAgeMs: opts.aptListsMaxAgeMs,
  });
}

/**
 * Hash of every input file of the definition: the image folder and any
 * `build.inputs` (except the README.md at the top of each: sizes and
 * documentation, not build input), by relative path,
 * type, executable bit and content.
 */
export async function hashInputs(def: PackageDefinition): Promise<string> {
  const h = createHash('sha256');
  const roots = [def.dir, ...(def.data.build?.inputs ?? []).map((p) => resolve(def.dir, p))];
  for (const root of roots) {
    h.update(`root ${relative(def.dir, root)}\n`);
    const st = await lstat(root).catch(() => undefined);
    if (!st) {
      throw new CoracleError(formatDiagnostic({ ...def.locate(['build', 'inputs']), severity: 'error', message: `input ${relative(def.dir, root)} not found` }));
    }
    const paths = st.isDirectory() ? await walk(root) : [''];
    for (const rel of paths) {
      // README.md records sizes (and documents an input folder); the lock's versions are hashed as packages below
      if (rel === 'README.md' || (root === def.dir && rel === PACKAGE_LOCK_FILE)) continue;
      const full = rel ? join(root, rel) : root;
      const s = await lstat(full);
      if (s.isDirectory()) h.update(`d ${rel}\n`);
      else if (s.isSymbolicLink()) h.update(`l ${rel} ${await readlink(full)}\n`);
      else if (s.isFile()) {
        const c = createHash('sha256').update(await readFile(full)).digest('hex');
        h.update(`f ${rel} ${s.mode & 0o111 ? 'x' : '-'} ${c}\n`);
      }
    }
  }
  return h.digest('hex');
}

/** The tag: definition + input files + resolved package versions + platform + epoch + builder version. */
export async function computeTag(def: PackageDefinition, packages: ResolvedPackage[], platform: Platform, epoch: number): Promise<string> {
  const h = createHash('sha256');
  h.update(`${BUILDER_VERSION}\n${formatPlatform(platform)}\n${epoch}\n`);
  h.update(`inputs ${await hashInputs(def)}\n`);
  for (const p of packages) h.update(`deb ${p.name} ${p.version} ${p.architecture}\n`);
  return h.digest('hex').slice(0, 20);
}

export function imageRef(name: string, tag: string, org = DEFAULT_ORG): string {
  return canonicalReference(`${org.replace(/\/+$/, '')}/${name}:${tag}`);
}

/** Every package build.yml asks for, as the archive resolves it today. */
async function resolveFromArchive(definition: PackageDefinition, opts: PkgOptions, platform: Platform): Promise<ResolvedPackage[]> {
  const deb = definition.data.debian!;
  const apt = aptFor(opts, platform);
  try {
    return deb.dependencies === false ? await apt.resolveExact(deb.packages) : await apt.resolve(deb.packages);
  } catch (e) {
    if (e instanceof UnknownPackageError) {
      const i = deb.packages.findIndex((p) => p.split('=')[0] === e.packageName);
      const loc = definition.locate(i >= 0 ? ['debian', 'packages', i] : ['debian', 'packages']);
      throw new CoracleError(formatDiagnostic({ ...loc, severity: 'error', message: e.message }), { cause: e });
    }
    throw e;
  }
}

/** The lock's packages, once it is known to answer what build.yml asks today. */
function lockedPackages(definition: PackageDefinition, lock: PackageLock, platform: Platform): ResolvedPackage[] {
  const shown = lockDisplayPath(definition);
  if (!sameRequest(lock.request, lockRequest(definition)))
    throw new CoracleError(`${shown} is out of date: build.yml's debian packages changed since it was written; run \`coracle pkg lock ${definition.dir}\``);
  if (lock.platform !== formatPlatform(platform))
    throw new CoracleError(`${shown} is for ${lock.platform}, not ${formatPlatform(platform)}; lock each platform's build separately`);
  return lock.packages.map((p) => ({ ...p, origin: '' }));
}

export interface PkgLockResult {
  definition: PackageDefinition;
  /** false when the existing lock already answered build.yml (and --update was not given). */
  written: boolean;
  packages: ResolvedPackage[];
}

/**
 * Write images/NAME/build.lock: the packages as the archive resolves them now,
 * with their .deb sha256. An existing lock that still answers build.yml is
 * kept unless `update` is set (as `npm install` keeps package-lock.json).
 */
export async function lockPackage(path: string, opts: PkgOptions & { update?: boolean }): Promise<PkgLockResult> {
  const definition = await loadDefinition(path);
  const platform = parsePlatform(opts.platform ?? 'linux/amd64');
  if (!definition.data.debian) throw new CoracleError(`${definition.displayFile}: no debian packages to lock`);
  const existing = opts.update ? undefined : await readPackageLock(definition);
  if (existing && sameRequest(existing.request, lockRequest(definition)) && existing.platform === formatPlatform(platform))
    return { definition, written: false, packages: lockedPackages(definition, existing, platform) };
  const packages = await resolveFromArchive(definition, opts, platform);
  const hashes = await aptFor(opts, platform).debHashes(packages);
  const lock: PackageLock = {
    lockVersion: PACKAGE_LOCK_VERSION,
    platform: formatPlatform(platform),
    request: lockRequest(definition),
    packages: packages.map((p, i) => ({ name: p.name, version: p.version, architecture: p.architecture, sha256: hashes[i]! })),
  };
  await writePackageLock(definition, lock);
  return { definition, written: true, packages };
}

/** Load, resolve packages and compute the tag and ref of an image definition (no building). */
export async function planPackage(path: string, opts: PkgOptions): Promise<PkgPlan> {
  const definition = await loadDefinition(path);
  const platform = parsePlatform(opts.platform ?? 'linux/amd64');
  const sourceDateEpoch = epochFrom(opts);
  if (definition.data.label) validateLabel(definition);
  const deb = definition.data.debian;
  let packages: ResolvedPackage[] = [];
  if (deb) {
    const lock = opts.ignoreLock ? undefined : await readPackageLock(definition);
    packages = lock ? lockedPackages(definition, lock, platform) : await resolveFromArchive(definition, opts, platform);
  }
  if (deb?.unpack) {
    const res = deb.unpack.map(globToRegExp);
    const chosen = packages.filter((p) => res.some((r) => r.test(p.name)));
    if (chosen.length === 0) {
      throw new CoracleError(formatDiagnostic({ ...definition.locate(['debian', 'unpack']), severity: 'error', message: `debian.unpack matches none of ${packages.map((p) => p.name).join(', ')}` }));
    }
    packages = chosen;
  }
  const tag = opts.tag ?? (await computeTag(definition, packages, platform, sourceDateEpoch));
  return { definition, platform, packages, tag, ref: imageRef(definition.name, tag, opts.org), sourceDateEpoch };
}

/** Build one image into the store (unless its ref is already there and `force` is off). */
export async function buildPackage(path: string, opts: PkgOptions): Promise<PkgBuildResult> {
  const reporter = opts.reporter ?? silentReporter;
  const plan = await planPackage(path, opts);
  const { definition: def, platform, packages, ref, tag, sourceDateEpoch } = plan;
  const existing = await opts.store.getRef(ref);
  if (existing && !opts.force) {
    reporter.info(`${def.name}: ${ref} is up to date`);
    return { ...plan, built: false, descriptor: existing };
  }
  const apt = def.data.debian ? aptFor(opts, platform) : undefined;
  const staged = await stageRoot(def, {
    apt,
    packages,
    reporter,
    sourceDateEpoch,
    buildCacheDir: join(debianCacheDir(opts), 'build-cache'),
  }).catch((e: unknown) => {
    if (e instanceof MissingVersionError && e.pkg.sha256 !== undefined)
      throw new CoracleError(`${lockDisplayPath(def)}: ${e.pkg.name} ${e.pkg.version} is no longer in the Debian archive; run \`coracle pkg lock --update ${def.dir}\` to lock what it offers now`, { cause: e });
    throw e;
  });
  try {
    if (def.data.kernel) {
      const t = reporter.task(`${def.name}: kernel layout`);
      const k = await layoutKernel(staged.dir, sourceDateEpoch, {
        dropModules: def.data.kernel.dropModules ?? [],
        ...(def.data.kernel.compressModules ? { compressModules: def.data.kernel.compressModules } : {}),
      });
      const mods = k.compressed ? `, ${k.compressed} modules xz-compressed` : '';
      t.done(`${k.version}, ${k.compression} bzImage, PVH entry 0x${k.pvhEntry.toString(16)}${mods}`);
    }
    // The SBOM is a file in the image; the manifest points at it by path and digest.
    const sbom = Buffer.from(
      `${JSON.stringify(
        spdxDocument({
          image: def.name,
          ref,
          tag,
          packages,
          created: sourceDateEpoch,
          distro: packages.length ? 'debian-12' : undefined,
          toolVersion: BUILDER_VERSION,
        }),
        null,
        2,
      )}\n`,
    );
    const sbomRel = `${SBOM_DIR}/${def.name}.spdx.json`;
    await mkdir(join(staged.dir, SBOM_DIR), { recursive: true });
    await writeFile(join(staged.dir, sbomRel), sbom);
    const sbomDigest = `sha256:${createHash('sha256').update(sbom).digest('hex')}`;

    const t = reporter.task(`${def.name}: write layer`);
    const label = def.data.label ? JSON.stringify(def.data.label) : undefined;
    const img = await writeImageBlobs(opts.store, {
      rootDir: staged.dir,
      meta: staged.meta,
      mtime: sourceDateEpoch,
      platform,
      config: def.data.config ?? {},
      label,
      labels: { 'org.opencontainers.image.title': def.name },
      manifestAnnotations: {
        'org.opencontainers.image.title': def.name,
        'org.opencontainers.image.version': tag,
        'org.opencontainers.image.created': new Date(sourceDateEpoch * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
        [SBOM_PATH_ANNOTATION]: `/${sbomRel}`,
        [SBOM_DIGEST_ANNOTATION]: sbomDigest,
      },
      onLayerBytes: (n) => t.advance(n),
    });
    t.done();
    // Everything is in; only now does the name appear.
    await opts.store.setRef(ref, img.index);
    reporter.info(`${def.name}: built ${ref} (${img.manifest.digest})`);
    return { ...plan, built: true, descriptor: img.index, manifestDigest: img.manifest.digest, layerSize: img.layer.size, tarSize: img.tarSize };
  } finally {
    await staged.cleanup();
  }
}

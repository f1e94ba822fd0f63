// Reproducibility of the lean kernel: images/kernel-lean built twice, each
// time from an empty object tree (a fresh build cache) into a fresh store,
// then every file of the two images compared byte for byte (by sha256):
// /kernel, /vmlinux, /kernel.tar, /kernel.config, the SBOM. Exit status 1
// when any file differs.
//
//   node --import tsx bench/kernel-repro.ts [--keep] [--parallel | --one]
//
// Not part of `npm test`: each build compiles the whole kernel (12-25 min of
// both cores on a 2-core machine), which CI's 60-minute budget cannot take
// twice more. The package lists and .debs are hard-linked from the apt cache
// of the store named by $CORACLE_CACHE (its `debian/` folder, without
// `build-cache/`), so both builds resolve the same linux-source-6.1 and
// nothing is downloaded when it is warm; only the object tree starts empty.
// --keep leaves bench/work/kernel-repro/ (two stores) for a closer look;
// --parallel runs the two builds at the same time (each its own make -j$(nproc),
// so each takes longer, both end sooner on a shared machine); --one builds
// once from an empty object tree and compares it with the image of the same
// tag in $CORACLE_CACHE's store, however that one was built (half the time,
// and it also shows that an incremental build gives the clean build's bytes
// when the store's image came from a reused object tree).
// Figures go to bench/RESULTS.md (section "kernel-repro").
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { unpackImage } from '../src/build/unpack.js';
import { readImage } from '../src/oci/image.js';
import { defaultStoreRoot } from '../src/oci/store/location.js';
import { openStore } from '../src/oci/store/layout-store.js';
import { buildPackage, planPackage } from '../src/pkg/build.js';
import { createReporter } from '../src/progress/reporter.js';
import { table, writeSection } from './results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', 'work', 'kernel-repro');
const KEEP = process.argv.includes('--keep');
const PARALLEL = process.argv.includes('--parallel');
const ONE = process.argv.includes('--one');
const userStore = process.env.CORACLE_CACHE ?? defaultStoreRoot();
const log = (s: string): void => console.log(`bench kernel-repro: ${s}`);

interface Build {
  seconds: number;
  reference: string;
  manifest: string;
  /** path -> `sha256:… size` of every regular file in the image */
  files: Map<string, string>;
}

/** A debian cache for one build: the user's package lists and .debs (hard links), no build cache. */
async function freshDebianCache(dir: string): Promise<void> {
  const from = join(userStore, 'debian');
  await mkdir(dir, { recursive: true });
  if (!existsSync(from)) return;
  for (const name of await readdir(from)) {
    if (name === 'build-cache') continue;
    const r = await execa('cp', ['-al', join(from, name), join(dir, name)], { reject: false });
    if (r.exitCode !== 0) await execa('cp', ['-a', join(from, name), join(dir, name)]);
  }
}

async function fileDigests(storeRoot: string, reference: string): Promise<{ manifest: string; files: Map<string, string> }> {
  const store = await openStore(storeRoot);
  const img = await readImage(store, reference);
  const tree = await unpackImage(store, { name: reference, manifest: img.manifest, config: img.config });
  const files = new Map<string, string>();
  for (const e of tree.entries()) {
    if (e.type !== 'file' || !e.data) continue;
    if (e.data.kind === 'buffer') {
      files.set(e.path, `sha256:${createHash('sha256').update(e.data.data).digest('hex')} ${e.data.data.length}`);
    } else if (e.data.kind === 'stream') {
      files.set(e.path, `${e.data.digest} ${e.data.size}`);
    } else {
      throw new Error(`${reference}: ${e.path}: unexpected file data (${e.data.kind})`);
    }
  }
  return { manifest: img.descriptor.digest, files };
}

async function buildOnce(i: number): Promise<Build> {
  const dir = join(work, `build-${i}`);
  await rm(dir, { recursive: true, force: true });
  await freshDebianCache(join(dir, 'debian'));
  const storeRoot = join(dir, 'store');
  log(`build ${i}: images/kernel-lean into ${storeRoot}, empty object tree`);
  const t0 = performance.now();
  const r = await buildPackage(join(root, 'images', 'kernel-lean'), {
    store: await openStore(storeRoot),
    debianCacheDir: join(dir, 'debian'),
    reporter: createReporter({ plain: true }),
  });
  const seconds = (performance.now() - t0) / 1000;
  if (!r.built) throw new Error(`build ${i}: not built (found in a fresh store?)`);
  log(`build ${i}: ${r.ref} in ${(seconds / 60).toFixed(1)} min`);
  return { seconds, reference: r.ref, ...(await fileDigests(storeRoot, r.ref)) };
}

/** --one: the image of the same tag in the user's store (not built here). */
async function storeImage(): Promise<Build> {
  const store = await openStore(userStore);
  const plan = await planPackage(join(root, 'images', 'kernel-lean'), { store, debianCacheDir: join(work, 'build-1', 'debian') });
  if (!(await store.getRef(plan.ref))) throw new Error(`${plan.ref} is not in ${userStore}: build it there first (coracle pkg build images/kernel-lean)`);
  log(`compared with ${plan.ref} in ${userStore}`);
  return { seconds: NaN, reference: plan.ref, ...(await fileDigests(userStore, plan.ref)) };
}

async function main(): Promise<void> {
  const load0 = loadavg()[0]!;
  await mkdir(work, { recursive: true });
  const [a, b] = ONE ? [await buildOnce(1), await storeImage()] : PARALLEL ? await Promise.all([buildOnce(1), buildOnce(2)]) : [await buildOnce(1), await buildOnce(2)];
  if (a.reference !== b.reference) throw new Error(`different tags: ${a.reference} and ${b.reference} (the inputs differ)`);
  const load1 = loadavg()[0]!;
  const paths = [...new Set([...a.files.keys(), ...b.files.keys()])].sort();
  const differ = paths.filter((p) => a.files.get(p) !== b.files.get(p));
  const short = (d: string | undefined): string => (d ? `${d.slice(7, 23)}… (${d.split(' ')[1]} B)` : 'missing');
  const body = [
    ...(ONE
      ? [
          'images/kernel-lean built once by `buildPackage` (in-process) into a fresh store with a fresh build cache (the object tree',
          'unpacked from the source tarball and compiled from nothing, make -j2), then compared with the image of the same tag in the',
          `user's store (${userStore}), built earlier in another folder (build 2 below; its build time is not measured here).`,
          "The apt package lists and .debs are hard links to the user store's, so both use the same linux-source-6.1 .deb.",
        ]
      : [
          'images/kernel-lean built twice by `buildPackage` (in-process), each into a fresh store with a fresh build cache: the object',
          'tree is unpacked from the source tarball and compiled from nothing both times (make -j2), in two different folders. The apt',
          "package lists and .debs are hard links to the user store's, so both builds use the same linux-source-6.1 .deb.",
          PARALLEL ? 'The two builds ran at the same time (--parallel), each with make -j2: each wall time is that of a build sharing the CPUs with the other.' : 'The two builds ran one after the other.',
        ]),
    `Load average (1 min) ${load0.toFixed(1)} before, ${load1.toFixed(1)} after (the machine is shared: build times are wall time under that load).`,
    '',
    table(['', 'build 1', 'build 2'], [
      ['wall time (min)', (a.seconds / 60).toFixed(1), Number.isNaN(b.seconds) ? 'not measured' : (b.seconds / 60).toFixed(1)],
      ['image', a.reference, b.reference],
      ['manifest', a.manifest, b.manifest],
    ]),
    '',
    table(['file', 'build 1 sha256', 'build 2 sha256', 'same'], paths.map((p) => [`/${p}`, short(a.files.get(p)), short(b.files.get(p)), differ.includes(p) ? '**no**' : 'yes'])),
    '',
    differ.length === 0 ? `Every file is the same in both builds (${paths.length} files).` : `**${differ.length} of ${paths.length} files differ.**`,
  ].join('\n');
  await writeSection('kernel-repro', 'Lean kernel: two builds from empty object trees', body);
  log(differ.length === 0 ? `same bytes: ${paths.length} files` : `DIFFER: ${differ.join(', ')}`);
  log('wrote bench/RESULTS.md (kernel-repro)');
  if (!KEEP) await rm(work, { recursive: true, force: true });
  if (differ.length) process.exitCode = 1;
}

await main();

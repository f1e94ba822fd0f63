// Package-build benchmark: for each system image, a cold build (empty store
// and empty .deb/apt cache: lists and packages are downloaded), a cold
// build with a warm .deb cache, a warm no-op (the tag is already in the
// store: resolve + hash only), and the image's size (compressed layer and
// unpacked content). All measured in one run, in-process (no CLI start-up).
//
//   node --import tsx bench/pkg.ts [NAME...]
//
// Figures go to bench/RESULTS.md (section "pkg").
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openStore } from '../src/oci/store/layout-store.js';
import { buildPackage } from '../src/pkg/build.js';
import { formatBytes } from '../src/progress/reporter.js';
import { table, writeSection } from './results.js';

const ALL = ['busybox', 'init', 'kernel', 'runc', 'containerd', 'getty', 'dhcpcd', 'sshd', 'ntpd', 'sysctl', 'rngd', 'poweroff'];
const names = process.argv.slice(2).length ? process.argv.slice(2) : ALL;
const root = join(import.meta.dirname ?? '.', '..');

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await fn();
  return [r, (performance.now() - t) / 1000];
}

const rows: Array<Array<string | number>> = [];
const work = await mkdtemp(join(tmpdir(), 'coracle-bench-pkg-'));
try {
  for (const name of names) {
    const dir = join(root, 'images', name);
    const cold = join(work, `${name}-cold`);
    const [r1, tCold] = await timed(async () =>
      buildPackage(dir, { store: await openStore(join(cold, 'store')), debianCacheDir: join(cold, 'debian'), aptListsMaxAgeMs: 0 }),
    );
    const warmDeb = join(work, `${name}-warmdeb`);
    const [, tWarmDeb] = await timed(async () =>
      buildPackage(dir, { store: await openStore(join(warmDeb, 'store')), debianCacheDir: join(cold, 'debian') }),
    );
    const [r3, tNoop] = await timed(async () => buildPackage(dir, { store: await openStore(join(cold, 'store')), debianCacheDir: join(cold, 'debian') }));
    if (r3.built) throw new Error(`${name}: the warm build rebuilt`);
    rows.push([name, tCold.toFixed(1), tWarmDeb.toFixed(1), tNoop.toFixed(2), formatBytes(r1.layerSize ?? 0), formatBytes(r1.tarSize ?? 0), r1.packages.length]);
    console.log(rows[rows.length - 1]!.join('  '));
    await rm(join(work, `${name}-warmdeb`), { recursive: true, force: true });
    await rm(cold, { recursive: true, force: true });
  }
} finally {
  await rm(work, { recursive: true, force: true });
}

await writeSection(
  'pkg',
  'coracle pkg build: system images',
  [
    'Seconds, in-process (no CLI start-up); sizes of the single gzip layer and of its uncompressed tar.',
    'Cold = empty store and empty apt/.deb/Go-build cache (package lists and .debs are downloaded from the Debian mirror);',
    'warm .debs = empty store, cache kept; no-op = the tag is already in the store (remembered resolution, hash of the inputs, ref found).',
    'Times are from a 2-core machine shared with other jobs: read them as orders of magnitude.',
    '',
    table(['image', 'cold (s)', 'warm .debs (s)', 'no-op (s)', 'layer (gzip)', 'content', 'Debian packages'], rows),
  ].join('\n'),
);

// Build time and size of every bootable format for examples/web.yml, next
// to kernel+initrd, in one run:
//
//   node --import tsx bench/formats.ts [--runs N]
//
// The system is built once as kernel+initrd with the store named by
// $CORACLE_CACHE (images built there first if missing, segments cached);
// then each format is made from that kernel and initrd with an empty image
// cache of its own (so a qcow2 includes making its raw disk), N runs, the
// median. Size is the file's length and the blocks it takes on disk (raw
// images are sparse). Figures go to bench/RESULTS.md (section "formats").
import { mkdir, rm, stat } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { build } from '../src/build/assemble.js';
import { openStore } from '../src/oci/store/layout-store.js';
import { defaultStoreRoot } from '../src/oci/store/location.js';
import { DISK_FORMATS } from '../src/outputs/formats.js';
import { DiskImages } from '../src/outputs/disk/index.js';
import { median, table, writeSection } from './results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'bench', 'work', 'formats');
const i = process.argv.indexOf('--runs');
const RUNS = i >= 0 ? Number(process.argv[i + 1]) : 3;
const mib = (n: number): string => (n / 1048576).toFixed(1);
const log = (s: string): void => console.log(`bench formats: ${s}`);

await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
const store = await openStore(process.env.CORACLE_CACHE ?? defaultStoreRoot());
const out = join(work, 'out');
const spec = join(root, 'examples', 'web.yml');
// warm the segment cache, then time kernel+initrd with the segments cached (what a format build starts from)
await build({ specFiles: [spec], store, outDir: out, name: 'web' });
const kiTimes: number[] = [];
for (let r = 0; r < RUNS; r++) {
  await rm(out, { recursive: true, force: true });
  const t0 = performance.now();
  await build({ specFiles: [spec], store, outDir: out, name: 'web' });
  kiTimes.push(performance.now() - t0);
}
const kernel = join(out, 'web-kernel');
const initrd = join(out, 'web-initrd.img');
const cmdline = (await import('node:fs/promises')).readFile(join(out, 'web-cmdline'), 'utf8');
const ki = (await stat(kernel)).size + (await stat(initrd)).size;
const rows: Array<Array<string | number>> = [['kernel+initrd', (median(kiTimes) / 1000).toFixed(2), mib(ki), mib(ki), '1.00']];
for (const f of DISK_FORMATS) {
  const times: number[] = [];
  let file = '';
  for (let r = 0; r < RUNS; r++) {
    const cacheDir = join(work, `cache-${f}-${r}`);
    const images = new DiskImages({ name: 'web', kernel, initrd, cmdline: await cmdline, mtime: 0, cacheDir });
    const t0 = performance.now();
    file = await images.image(f);
    times.push(performance.now() - t0);
    if (r < RUNS - 1) await rm(cacheDir, { recursive: true, force: true });
  }
  const st = await stat(file);
  rows.push([f, (median(times) / 1000).toFixed(2), mib(st.size), mib(st.blocks * 512), (st.size / ki).toFixed(2)]);
  log(`${f}: ${(median(times) / 1000).toFixed(2)} s, ${mib(st.size)} MiB`);
}
const body = [
  `examples/web.yml; each format made from the built kernel and initrd with an empty image cache (its raw disk included), median of ${RUNS} runs; kernel+initrd is \`coracle build\` with the initrd segments cached. Load average at the end: ${loadavg()[0]!.toFixed(1)}.`,
  '',
  table(['format', 'build s', 'size MiB', 'on disk MiB', 'size / kernel+initrd'], rows),
  '',
  'The content hash of kernel and initrd (for ids and the cache key) is part of each format\'s time. iso-bios carries kernel and initrd twice (ISOLINUX files and inside the UKI); gcp is gzip level 6.',
].join('\n');
await writeSection('formats', 'Bootable formats: build time and size (examples/web.yml)', body);
log('wrote bench/RESULTS.md (formats)');

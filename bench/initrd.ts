// Initrd writer benchmark: size per compression, cold vs cached builds.
//
//   node --import tsx bench/initrd.ts [--mb SIZE]
//
// Takes a sample tree of real files from this machine (~SIZE MiB of
// /usr/lib/x86_64-linux-gnu and /usr/share/perl, in four components like a
// small system: init, two containers, files), and for each compression
// times, in one run: a cold build (empty cache), a warm rebuild (nothing
// changed: cached segments are concatenated), a rebuild after a one-file
// change in the small `files` segment, and the warm rebuild when the caller
// passes content keys (no hashing of file data). Figures go to
// bench/RESULTS.md (section "initrd").
import { mkdtemp, readdir, readFile, lstat, readlink, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeInitrd } from '../src/initrd/index.js';
import type { Compression, InitrdEntry, SegmentInput } from '../src/initrd/types.js';
import { median, table, writeSection } from './results.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const BUDGET = arg('mb', 24) * 1024 * 1024;

/** Walk `root` (sorted) into entries under `prefix`, up to `budget` bytes of file data. */
async function collect(root: string, prefix: string, budget: number): Promise<{ entries: InitrdEntry[]; bytes: number }> {
  const entries: InitrdEntry[] = [];
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      if (bytes >= budget) return;
      const p = join(dir, name);
      const st = await lstat(p);
      const path = `${prefix}/${relative(root, p)}`;
      const meta = { path, mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: 0 };
      if (st.isDirectory()) {
        entries.push({ ...meta, type: 'dir' });
        await walk(p);
      } else if (st.isSymbolicLink()) {
        entries.push({ ...meta, type: 'symlink', linkTarget: await readlink(p) });
      } else if (st.isFile() && st.size < 8 * 1024 * 1024) {
        entries.push({ ...meta, type: 'file', data: { kind: 'file', path: p, size: st.size } });
        bytes += st.size;
      }
    }
  };
  const parts = prefix.split('/');
  for (let i = 1; i <= parts.length; i++) entries.push({ path: parts.slice(0, i).join('/'), type: 'dir', mode: 0o755, uid: 0, gid: 0 });
  await walk(root);
  return { entries, bytes };
}

const fmtMiB = (n: number): string => (n / 1024 / 1024).toFixed(1);
const secs = (ms: number): string => (ms / 1000).toFixed(2);

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const r = await f();
  return [r, performance.now() - t];
}

async function main(): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'coracle-bench-initrd-'));
  const loadBefore = loadavg()[0]!;
  try {
    const init = await collect('/usr/share/perl', 'usr/share/perl', BUDGET * 0.25);
    const libs = await collect('/usr/lib/x86_64-linux-gnu', 'containers/services/a/rootfs/lib', BUDGET * 0.6);
    const libs2 = await collect('/usr/lib/x86_64-linux-gnu/perl-base', 'containers/services/b/rootfs/lib', BUDGET * 0.15);
    const files = (motd: string): InitrdEntry[] => [
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
      { path: 'etc/motd', type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from(motd) } },
    ];
    const total = init.bytes + libs.bytes + libs2.bytes;
    const segments = (motd: string, keyed: boolean): SegmentInput[] => {
      const s: SegmentInput[] = [
        { name: 'init', entries: init.entries },
        { name: 'services/a', entries: libs.entries },
        { name: 'services/b', entries: libs2.entries },
        { name: 'files', entries: files(motd) },
      ];
      return keyed ? s.map((x) => ({ ...x, key: `${x.name}@${x.name === 'files' ? motd : 'v1'}` })) : s;
    };

    // Read every file once so the first compression measured does not pay for cold disk reads.
    for (const e of [...init.entries, ...libs.entries, ...libs2.entries]) {
      if (e.data?.kind === 'file') await readFile(e.data.path);
    }

    const rows: Array<Array<string | number>> = [];
    const configs: Array<{ compression: Compression; level?: number; label: string }> = [
      { compression: 'none', label: 'none' },
      { compression: 'gzip', label: 'gzip -6 (default)' },
      { compression: 'gzip', level: 9, label: 'gzip -9' },
      { compression: 'zstd', level: 3, label: 'zstd -3' },
      { compression: 'zstd', label: 'zstd -9 (default)' },
      { compression: 'zstd', level: 19, label: 'zstd -19' },
      { compression: 'lz4', level: 1, label: 'lz4 -1' },
      { compression: 'lz4', label: 'lz4 -9 (default)' },
    ];
    for (const c of configs) {
      const cacheDir = join(work, `cache-${c.label.replace(/\W+/g, '')}`);
      const out = join(work, 'initrd.img');
      const opts = { compression: c.compression, cacheDir, ...(c.level ? { level: c.level } : {}) };
      const [cold, tCold] = await timed(() => writeInitrd(segments('one', false), out, opts));
      const warmRuns: number[] = [];
      for (let i = 0; i < 3; i++) {
        const [warm, t] = await timed(() => writeInitrd(segments('one', false), out, opts));
        if (!warm.segments.every((x) => x.cached) || warm.sha256 !== cold.sha256) throw new Error('warm rebuild was not a full cache hit');
        warmRuns.push(t);
      }
      await writeInitrd(segments('one', true), out, opts);
      const keyedRuns: number[] = [];
      for (let i = 0; i < 3; i++) keyedRuns.push((await timed(() => writeInitrd(segments('one', true), out, opts)))[1]);
      const changeRuns: number[] = [];
      for (const motd of ['two', 'three', 'four']) {
        const [changed, t] = await timed(() => writeInitrd(segments(motd, true), out, opts));
        if (changed.segments.filter((x) => !x.cached).length !== 1) throw new Error('one-file change rebuilt more than one segment');
        changeRuns.push(t);
      }
      const [tWarm, tKeyed, tChange] = [median(warmRuns), median(keyedRuns), median(changeRuns)];
      rows.push([c.label, fmtMiB(cold.size), (cold.size / total).toFixed(3), secs(tCold), secs(tWarm), secs(tKeyed), secs(tChange), (tCold / tKeyed).toFixed(0)]);
      process.stdout.write(`${c.label}: ${fmtMiB(cold.size)} MiB, cold ${secs(tCold)} s, warm ${secs(tWarm)} s, keyed warm ${secs(tKeyed)} s, one-file ${secs(tChange)} s\n`);
    }
    const body = [
      `Sample tree: ${fmtMiB(total)} MiB of file data in ${init.entries.length + libs.entries.length + libs2.entries.length + 2} entries`,
      '(real files from /usr/share/perl and /usr/lib/x86_64-linux-gnu), as four segments: init, services/a,',
      'services/b, files. "warm, hashed": nothing changed, segment keys computed by hashing all file data,',
      'cached segments concatenated; "warm, keyed": the caller passes content keys (as `coracle build`',
      'does), so no data is read; "one file, keyed": /etc/motd changed, its small segment recompressed.',
      'Warm and one-file figures are medians of 3 runs.',
      'gzip single-threaded, zstd -T0 (2 cores here); files read once beforehand (page cache warm).',
      `Load average (1 min) at start / end: ${loadBefore.toFixed(1)} / ${loadavg()[0]!.toFixed(1)} (a shared machine: compare rows, not runs).`,
      '',
      table(['compression', 'initrd MiB', 'ratio', 'cold (s)', 'warm, hashed (s)', 'warm, keyed (s)', 'one file, keyed (s)', 'cold / keyed warm'], rows),
    ].join('\n');
    await writeSection('initrd', 'Initrd writer: size per compression, cold vs cached', body);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();

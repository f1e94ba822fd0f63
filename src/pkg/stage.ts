import { chmod, copyFile, cp, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';
import { CoracleError, formatDiagnostic } from '../errors.js';
import type { Reporter } from '../progress/reporter.js';
import type { AptArchive, ResolvedPackage } from '../debian/apt.js';
import { parseMode, type PackageDefinition } from './definition.js';
import { globToRegExp, matchesAny } from './glob.js';
import { isElf, parseElf } from './elf.js';

/** Ownership and mode set explicitly for an image path (from `files:`). */
export interface PathMeta {
  mode?: number;
  uid?: number;
  gid?: number;
}

/** What Debian unpacks that no image needs: documentation, manuals, translations. */
export const DEBIAN_EXCLUDES = [
  'usr/share/doc/**',
  'usr/share/doc-base/**',
  'usr/share/man/**',
  'usr/share/info/**',
  'usr/share/locale/**',
  'usr/share/lintian/**',
  'usr/share/bug/**',
  'usr/share/bash-completion/**',
  'usr/share/zsh/**',
  'usr/share/fish/**',
  'usr/share/gocode/**',
  'usr/share/apport/**',
];

/** Folders where the dynamic loader finds libraries on Debian amd64. */
const LIB_DIRS = ['lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu', 'lib64', 'lib', 'usr/lib'];

export function isUnder(root: string, p: string): boolean {
  const r = relative(root, p);
  return r === '' || (!r.startsWith('..') && !r.startsWith('/'));
}

/** Every path under `root` (relative, sorted), folders included. */
export async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (rel: string) => {
    const entries = await readdir(join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      out.push(p);
      if (e.isDirectory()) await visit(p);
    }
  };
  await visit('');
  return out.sort();
}

/**
 * Copy a folder over the image root: later layers win. Files and symlinks
 * replace whatever was at their path; folders merge.
 */
export async function mergeTree(src: string, dst: string): Promise<void> {
  for (const rel of await walk(src)) {
    const from = join(src, rel);
    const to = join(dst, rel);
    const st = await lstat(from);
    const cur = await lstat(to).catch(() => undefined);
    if (st.isDirectory()) {
      if (cur && !cur.isDirectory()) await rm(to, { force: true });
      if (!cur || !cur.isDirectory()) await mkdir(to, { mode: st.mode & 0o7777 });
      continue;
    }
    if (cur) await rm(to, { recursive: true, force: true });
    if (st.isSymbolicLink()) await symlink(await readlink(from), to);
    else if (st.isFile()) {
      await copyFile(from, to);
      await chmod(to, st.mode & 0o7777);
    }
  }
}

/** Unpack .debs into `dir` (dpkg-deb -x, as dpkg would lay them out), dropping docs. */
export async function unpackDebs(debs: string[], dir: string): Promise<void> {
  for (const deb of debs) {
    const r = await execa('dpkg-deb', ['-x', deb, dir], { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new CoracleError(`cannot unpack ${deb}: ${r.stderr.trim()}`);
  }
  await removeMatching(dir, DEBIAN_EXCLUDES, false);
}

/** Delete paths matching the globs (keep=false) or everything not matching and not a parent of a match (keep=true). */
export async function removeMatching(dir: string, globs: string[], keep: boolean): Promise<number> {
  const res = globs.map(globToRegExp);
  const all = await walk(dir);
  let removed = 0;
  if (!keep) {
    for (const p of all) {
      if (matchesAny(p, res) && (await lstat(join(dir, p)).then(() => true, () => false))) {
        await rm(join(dir, p), { recursive: true, force: true });
        removed++;
      }
    }
    return removed;
  }
  const kept = new Set<string>();
  for (const p of all) {
    if (!matchesAny(p, res)) continue;
    kept.add(p);
    for (let d = dirname(p); d !== '.'; d = dirname(d)) kept.add(d);
  }
  // Delete deepest first so kept folders keep only what was asked for.
  for (const p of [...all].reverse()) {
    if (kept.has(p)) continue;
    const st = await lstat(join(dir, p)).catch(() => undefined);
    if (!st) continue;
    // A folder inside a kept match stays whole.
    if ([...kept].some((k) => p.startsWith(`${k}/`) && matchesAny(k, res))) continue;
    await rm(join(dir, p), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/**
 * Drop shared libraries that no ELF program in the image needs, following
 * DT_NEEDED from every executable and kept library (like ldd, but on the
 * image's files, not the host's).
 */
export async function pruneLibraries(dir: string): Promise<string[]> {
  const all = await walk(dir);
  const isLibDir = (p: string) => LIB_DIRS.includes(dirname(p));
  const soName = (p: string) => /\.so(\.|$)/.test(p);
  const candidates = all.filter((p) => isLibDir(p) && soName(p));
  const byName = new Map<string, string[]>();
  for (const p of candidates) {
    const base = p.slice(p.lastIndexOf('/') + 1);
    byName.set(base, [...(byName.get(base) ?? []), p]);
  }
  const needed = new Set<string>();
  const queue: string[] = [];
  const readElf = async (p: string) => {
    const st = await lstat(join(dir, p)).catch(() => undefined);
    if (!st?.isFile() || st.size < 64) return undefined;
    const buf = await readFile(join(dir, p));
    if (!isElf(buf)) return undefined;
    try {
      return parseElf(buf);
    } catch {
      return undefined;
    }
  };
  const need = async (name: string) => {
    const base = name.slice(name.lastIndexOf('/') + 1);
    for (const p of byName.get(base) ?? []) {
      if (needed.has(p)) continue;
      needed.add(p);
      queue.push(p);
      // Keep the symlink chain's targets too.
      const st = await lstat(join(dir, p));
      if (st.isSymbolicLink()) {
        const real = relative(dir, await realpathIn(dir, p));
        if (!needed.has(real)) {
          needed.add(real);
          queue.push(real);
        }
      }
    }
  };
  for (const p of all) {
    if (candidates.includes(p)) continue;
    const info = await readElf(p);
    if (!info) continue;
    if (info.interpreter) await need(info.interpreter);
    for (const n of info.needed) await need(n);
  }
  while (queue.length) {
    const p = queue.shift()!;
    const info = await readElf(p);
    if (!info) continue;
    for (const n of info.needed) await need(n);
  }
  const removed: string[] = [];
  for (const p of candidates) {
    if (needed.has(p)) continue;
    await rm(join(dir, p), { force: true, recursive: true });
    removed.push(p);
  }
  return removed;
}

/** Resolve a path's symlinks inside the image root (absolute targets are image-absolute). */
async function realpathIn(root: string, rel: string, depth = 0): Promise<string> {
  const full = join(root, rel);
  const st = await lstat(full).catch(() => undefined);
  if (!st?.isSymbolicLink() || depth > 16) return full;
  const t = await readlink(full);
  const next = t.startsWith('/') ? t.slice(1) : join(dirname(rel), t);
  return realpathIn(root, next, depth + 1);
}

export interface StageOptions {
  apt?: AptArchive;
  packages: ResolvedPackage[];
  reporter: Reporter;
  sourceDateEpoch: number;
  /** Folder for build-step caches (GOCACHE). */
  buildCacheDir: string;
}

/** The rootfs of the image on disk, plus per-path ownership/mode overrides. */
export interface StagedRoot {
  dir: string;
  meta: Map<string, PathMeta>;
  cleanup(): Promise<void>;
}

/**
 * Put the image's files in a fresh folder, in this order: Debian packages
 * (minus docs), `remove:`/`keep:` on what they unpacked, the `build:`
 * step's output, `rootfs/` (wins over the build output), `files:`,
 * `symlinks:`, then library pruning.
 */
export async function stageRoot(def: PackageDefinition, opts: StageOptions): Promise<StagedRoot> {
  const base = await mkdtemp(join(tmpdir(), `coracle-pkg-${def.name}-`));
  const dir = join(base, 'root');
  await mkdir(dir);
  const meta = new Map<string, PathMeta>();
  const cleanup = () => rm(base, { recursive: true, force: true });
  try {
    const d = def.data;
    if (d.debian && opts.apt && opts.packages.length) {
      const t = opts.reporter.task(`${def.name}: fetch ${opts.packages.length} Debian packages`);
      const debs = await opts.apt.download(opts.packages);
      t.done();
      const u = opts.reporter.task(`${def.name}: unpack`);
      await unpackDebs(debs, dir);
      u.done();
    }
    if (d.remove?.length) await removeMatching(dir, d.remove, false);
    if (d.keep?.length) await removeMatching(dir, d.keep, true);

    if (d.build) await runBuildStep(def, dir, base, opts);

    const rootfsDir = join(def.dir, d.rootfs ?? 'rootfs');
    if (await stat(rootfsDir).then((s) => s.isDirectory(), () => false)) {
      await mergeTree(rootfsDir, dir);
    } else if (d.rootfs) {
      throw new CoracleError(formatDiagnostic({ ...def.locate(['rootfs']), severity: 'error', message: `rootfs folder ${d.rootfs} does not exist` }));
    }


    for (const [i, f] of (d.files ?? []).entries()) {
      const rel = f.path.replace(/^\/+/, '').replace(/\/+$/, '');
      const target = join(dir, rel);
      if (!isUnder(dir, target) || rel === '') {
        throw new CoracleError(formatDiagnostic({ ...def.locate(['files', i, 'path']), severity: 'error', message: `path ${f.path} leaves the image root` }));
      }
      await mkdir(dirname(target), { recursive: true });
      if (f.directory) {
        await mkdir(target, { recursive: true });
      } else if (f.contents !== undefined) {
        await rm(target, { force: true, recursive: true });
        await writeFile(target, f.contents);
      } else if (f.source === undefined) {
        // Only mode/owner for a path something else put there (a package, the build step, rootfs/).
        if (!(await lstat(target).then(() => true, () => false))) {
          throw new CoracleError(formatDiagnostic({ ...def.locate(['files', i, 'path']), severity: 'error', message: `${f.path} is not in the image: give source, contents or directory` }));
        }
      } else {
        const srcRel = f.source;
        const src = join(def.dir, srcRel);
        const where = def.locate(['files', i, f.source !== undefined ? 'source' : 'path']);
        if (!isUnder(def.dir, src)) {
          throw new CoracleError(formatDiagnostic({ ...where, severity: 'error', message: `source ${srcRel} is outside the image folder` }));
        }
        const st = await stat(src).catch(() => undefined);
        if (!st) throw new CoracleError(formatDiagnostic({ ...where, severity: 'error', message: `file ${srcRel} not found in ${def.dir}` }));
        await rm(target, { force: true, recursive: true });
        await cp(src, target, { recursive: true, verbatimSymlinks: true });
      }
      const m: PathMeta = {};
      if (f.mode !== undefined) m.mode = parseMode(f.mode);
      if (f.uid !== undefined) m.uid = f.uid;
      if (f.gid !== undefined) m.gid = f.gid;
      if (Object.keys(m).length) meta.set(rel, m);
    }

    for (const s of d.symlinks ?? []) {
      const rel = s.path.replace(/^\/+/, '');
      const target = join(dir, rel);
      await mkdir(dirname(target), { recursive: true });
      await rm(target, { force: true, recursive: true });
      await symlink(s.target, target);
    }

    if (d.libraries === 'needed') {
      const removed = await pruneLibraries(dir);
      if (removed.length) opts.reporter.info(`${def.name}: dropped ${removed.length} unneeded shared libraries`);
    }
    return { dir, meta, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

async function runBuildStep(def: PackageDefinition, root: string, base: string, opts: StageOptions): Promise<void> {
  const b = def.data.build!;
  const out = join(base, 'out');
  const home = join(base, 'home');
  await mkdir(out);
  await mkdir(home);
  await mkdir(opts.buildCacheDir, { recursive: true });
  // A clean environment: the step sees only what the definition gives it.
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: home,
    LC_ALL: 'C.UTF-8',
    OUT: out,
    SRC: def.dir,
    ROOTFS: root,
    SOURCE_DATE_EPOCH: String(opts.sourceDateEpoch),
    GOCACHE: join(opts.buildCacheDir, 'go-build'),
    // Kept between builds of this image (e.g. the kernel's object tree, for
    // incremental rebuilds); what the step outputs must not depend on it.
    BUILD_CACHE: join(opts.buildCacheDir, 'steps', def.name),
    GOFLAGS: '-trimpath',
    CGO_ENABLED: '0',
    ...(b.env ?? {}),
  };
  const [cmd, args] = typeof b.command === 'string' ? ['/bin/sh', ['-ec', b.command]] : [b.command[0]!, b.command.slice(1)];
  const t = opts.reporter.task(`${def.name}: build step`);
  const child = execa(cmd, args, { cwd: def.dir, env, extendEnv: false, stdin: 'ignore', reject: false, all: false });
  // Long steps (a kernel compile) say how far they are: each line on stdout is shown as it comes.
  let pending = '';
  child.stdout?.on('data', (d: Buffer) => {
    pending += d.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) if (l.trim()) opts.reporter.info(`${def.name}: ${l.trimEnd()}`);
  });
  const r = await child;
  if (r.exitCode !== 0 || r.failed) {
    t.fail();
    const where = def.locate(['build', 'command']);
    const stderr = String(r.stderr ?? '').trim() || String(r.stdout ?? '').trim() || (r as { shortMessage?: string }).shortMessage || '';
    throw new CoracleError(`${formatDiagnostic({ ...where, severity: 'error', message: `build step failed (exit ${r.exitCode ?? 'signal'})` })}\n${stderr}`);
  }
  t.done();
  await mergeTree(out, root);
}

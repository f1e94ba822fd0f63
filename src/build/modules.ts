/**
 * The modules segment of a system: the kernel image's whole kernel.tar
 * (`kernel.modules: all`), or only the modules the system loads — the
 * init's boot set, /etc/modules and the spec's `kernel.modules:` list —
 * with what they depend on, and depmod's files regenerated for that subset.
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CoracleError } from '../errors.js';
import { dirChain } from '../initrd/tree.js';
import type { InitrdEntry } from '../initrd/types.js';
import { parseModuleIndex, selectModules, type ModuleSelection } from '../kernel/modules.js';
import type { FsTree } from '../initrd/tree.js';
import type { ResolvedBuildImage } from './images.js';
import { readModulesTar } from './kernel.js';

export { BOOT_MODULES_FILE, ETC_MODULES_FILE, parseModuleList } from './module-lists.js';
import { BOOT_MODULES_FILE, ETC_MODULES_FILE, parseModuleList } from './module-lists.js';

export interface InitModuleLists {
  boot: string[];
  etc: string[];
}

function treeText(tree: FsTree, path: string): string | undefined {
  const e = tree.get(path);
  if (e?.type !== 'file' || e.data?.kind !== 'buffer') return undefined;
  return Buffer.from(e.data.data).toString('utf8');
}

/** The module lists an init image carries, cached per image digest (warm builds do not unpack it). */
export async function initModuleLists(cacheRoot: string, image: ResolvedBuildImage, loadTree: (i: ResolvedBuildImage) => Promise<FsTree>): Promise<InitModuleLists> {
  const dir = join(cacheRoot, 'module-lists');
  const file = join(dir, `${image.descriptor.digest.replace(':', '-')}.json`);
  const cached = await readFile(file, 'utf8').then(
    (s) => JSON.parse(s) as InitModuleLists,
    () => undefined,
  );
  if (cached) return cached;
  const tree = await loadTree(image);
  const lists = { boot: parseModuleList(treeText(tree, BOOT_MODULES_FILE) ?? ''), etc: parseModuleList(treeText(tree, ETC_MODULES_FILE) ?? '') };
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(lists));
  await rename(tmp, file);
  return lists;
}


/** depmod's outputs, rewritten for the subset (modules.builtin* and modules.order come from the kernel build). */
const KEPT_AS_IS = new Set(['modules.builtin', 'modules.builtin.modinfo']);

export interface TrimmedModules {
  entries: InitrdEntry[];
  selection: ModuleSelection;
  version: string;
  /** Required names the kernel lacks. */
  missing: string[];
  /** Optional names the kernel lacks (skipped). */
  skipped: string[];
}

/**
 * The subset of a kernel.tar the requested modules need, or undefined when
 * the tarball has no modules.dep to resolve names with. `required` names
 * must exist (as a module, built in, or an alias); `optional` ones (the
 * boot set, /etc/modules) are skipped when missing, as the init skips them.
 */
export async function trimModules(tarPath: string, req: { required: readonly string[]; optional: readonly string[] }, what: string): Promise<TrimmedModules | undefined> {
  // (hardlinks are not followed into a subset: Debian's tarball has none)
  const files = (await readModulesTar(tarPath, what)).filter((f) => f.entry.type !== 'hardlink');
  const deps = files.filter((f) => /^lib\/modules\/[^/]+\/modules\.dep$/.test(f.path));
  if (deps.length === 0) return undefined;
  if (deps.length > 1) throw new CoracleError(`${what}: more than one lib/modules/VERSION folder (${deps.map((d) => dirname(d.path)).join(', ')}); set kernel.modules: all`);
  const base = dirname(deps[0]!.path);
  const version = base.slice('lib/modules/'.length);
  const byPath = new Map(files.map((f) => [f.path, f.entry]));
  const bytes = (name: string): Buffer | undefined => {
    const e = byPath.get(`${base}/${name}`);
    return e?.type === 'file' && e.data?.kind === 'buffer' ? Buffer.from(e.data.data) : undefined;
  };
  const index = parseModuleIndex({
    dep: bytes('modules.dep')!.toString('utf8'),
    builtin: bytes('modules.builtin')?.toString('utf8'),
    alias: bytes('modules.alias')?.toString('utf8'),
    softdep: bytes('modules.softdep')?.toString('utf8'),
    builtinModinfo: bytes('modules.builtin.modinfo'),
  });
  const selection = selectModules(index, [...req.required, ...req.optional]);
  const missing = selection.unknown.filter((n) => req.required.includes(n));
  const skipped = selection.unknown.filter((n) => !req.required.includes(n));

  // The module files, then depmod run over just those for modules.dep, .alias, .symbols ... and their .bin forms.
  const kept = new Set(selection.files.map((f) => `${base}/${f}`));
  const entries: InitrdEntry[] = [];
  const dirs = new Set<string>();
  const addDirs = (p: string) => {
    for (const d of dirChain(dirname(p))) {
      if (dirs.has(d.path)) continue;
      dirs.add(d.path);
      entries.push(byPath.get(d.path) ?? d);
    }
  };
  for (const p of kept) {
    if (!byPath.has(p)) throw new CoracleError(`${what}: modules.dep names ${p.slice(base.length + 1)}, which the tarball lacks`);
  }
  // Stored decompressed: busybox modprobe hands a .ko.xz to finit_module,
  // which refuses it ("Invalid ELF header magic"), then unpacks it with its
  // own xz and calls init_module; a plain .ko loads at the first try.
  const modules = await decompressModules(
    [...kept].map((p) => [p, byPath.get(p)!] as const),
    what,
  );
  for (const [p, e] of modules) byPath.set(p, e);
  const moduleFiles = new Set(modules.map(([p]) => p));
  for (const [p, e] of [...modules].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    addDirs(p);
    entries.push(e);
  }
  const stamp = byPath.get(`${base}/modules.dep`)!;
  for (const [name, data] of await depmodFiles(version, base, byPath, moduleFiles, what)) {
    const path = `${base}/${name}`;
    addDirs(path);
    entries.push({ path, type: 'file', mode: 0o644, uid: stamp.uid, gid: stamp.gid, mtime: stamp.mtime ?? 0, data: { kind: 'buffer', data } });
  }
  return { entries, selection, version, missing, skipped };
}

const COMPRESSED = /\.(xz|gz|zst)$/;
const UNPACKER: Record<string, { tool: string; pkg: string; args: string[] }> = {
  xz: { tool: 'xz', pkg: 'xz-utils', args: ['-d', '-q'] },
  gz: { tool: 'gzip', pkg: 'gzip', args: ['-d', '-q'] },
  zst: { tool: 'zstd', pkg: 'zstd', args: ['-d', '-q', '--rm'] },
};

/**
 * Modules with their compression removed (`x.ko.xz` becomes `x.ko`, same
 * mode, owner and time), in the order given; plain ones pass through.
 * One unpacker process per kind, on a scratch copy.
 */
export async function decompressModules(mods: ReadonlyArray<readonly [string, InitrdEntry]>, what: string): Promise<Array<[string, InitrdEntry]>> {
  const packed = mods.filter(([p, e]) => COMPRESSED.test(p) && e.type === 'file' && e.data?.kind === 'buffer');
  if (packed.length === 0) return mods.map(([p, e]) => [p, e]);
  const root = await mkdtemp(join(tmpdir(), 'coracle-modules-'));
  try {
    const byKind = new Map<string, string[]>();
    for (const [i, [p, e]] of packed.entries()) {
      const kind = COMPRESSED.exec(p)![1]!;
      // flat names: the scratch copy needs no folders
      const file = join(root, `${i}.ko.${kind}`);
      await writeFile(file, (e as { data: { data: Uint8Array } }).data.data);
      byKind.set(kind, [...(byKind.get(kind) ?? []), file]);
    }
    const { execa } = await import('execa');
    for (const [kind, files] of byKind) {
      const u = UNPACKER[kind]!;
      const r = await execa(u.tool, [...u.args, '--', ...files], { reject: false, stdin: 'ignore' }).catch((e: NodeJS.ErrnoException) => ({
        exitCode: -1,
        stderr: e.code === 'ENOENT' ? `${u.tool} not found (install ${u.pkg})` : e.message,
      }));
      if (r.exitCode !== 0) throw new CoracleError(`${what}: unpacking .ko.${kind} modules failed: ${String(r.stderr).trim()}`);
    }
    const plain = new Map<string, InitrdEntry>();
    for (const [i, [p, e]] of packed.entries()) {
      const path = p.replace(COMPRESSED, '');
      const data = await readFile(join(root, `${i}.ko`));
      plain.set(p, { ...e, path, data: { kind: 'buffer', data } } as InitrdEntry);
    }
    return mods.map(([p, e]) => {
      const u = plain.get(p);
      return u ? [u.path, u] : [p, e];
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

/** Run depmod on a scratch copy of the kept modules; returns its files (and the kernel build's own) sorted by name. */
async function depmodFiles(version: string, base: string, byPath: Map<string, InitrdEntry>, kept: Set<string>, what: string): Promise<Array<[string, Buffer]>> {
  const root = await mkdtemp(join(tmpdir(), 'coracle-depmod-'));
  try {
    const write = async (p: string, e: InitrdEntry) => {
      if (e.type !== 'file' || e.data?.kind !== 'buffer') return;
      await mkdir(join(root, dirname(p)), { recursive: true });
      await writeFile(join(root, p), e.data.data);
    };
    for (const p of kept) await write(p, byPath.get(p)!);
    const order = byPath.get(`${base}/modules.order`);
    const keptNames = new Set([...kept].map((p) => p.slice(base.length + 1).replace(/\.(xz|gz|zst)$/, '')));
    if (order?.type === 'file' && order.data?.kind === 'buffer') {
      const text = Buffer.from(order.data.data).toString('utf8').split('\n').filter((l) => keptNames.has(l.trim())).join('\n');
      await mkdir(join(root, base), { recursive: true });
      await writeFile(join(root, base, 'modules.order'), text ? `${text}\n` : '');
    }
    for (const n of KEPT_AS_IS) {
      const e = byPath.get(`${base}/${n}`);
      if (e) await write(`${base}/${n}`, e);
    }
    await mkdir(join(root, base), { recursive: true });
    // execa only when the modules segment is built (a cache miss), not on every build's start-up
    const { execa } = await import('execa');
    const r = await execa('depmod', ['-b', root, version], { reject: false, stdin: 'ignore' }).catch((e: NodeJS.ErrnoException) => ({ exitCode: -1, stderr: e.code === 'ENOENT' ? 'depmod not found (install kmod)' : e.message }));
    if (r.exitCode !== 0) throw new CoracleError(`${what}: depmod failed: ${String(r.stderr).trim()}`);
    const out: Array<[string, Buffer]> = [];
    for (const name of (await readdir(join(root, base))).sort()) {
      if (!name.startsWith('modules.')) continue;
      out.push([name, await readFile(join(root, base, name))]);
    }
    return out;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

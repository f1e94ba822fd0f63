/**
 * FsTree: a filesystem described in memory, the shape the assembler builds
 * while applying OCI layers (whiteouts, opaque directories) and `files:`,
 * and the initrd writer reads. Data stays where it is (DataSource); only
 * metadata lives here.
 */
import { CoracleError } from '../errors.js';
import { normalizeEntryPath } from './newc.js';
import type { InitrdEntry } from './types.js';

export interface FsTreeOptions {
  /** Metadata of directories created implicitly for parents that were never set (default 0o755 root:root). */
  implicitDir?: { mode: number; uid: number; gid: number; mtime?: number };
}

function parentOf(p: string): string | undefined {
  const i = p.lastIndexOf('/');
  return i < 0 ? undefined : p.slice(0, i);
}

export class FsTree {
  readonly #entries = new Map<string, InitrdEntry>();
  /** hardlink target -> paths of hardlinks to it */
  readonly #links = new Map<string, Set<string>>();
  readonly #implicit: { mode: number; uid: number; gid: number; mtime?: number };

  constructor(opts: FsTreeOptions = {}) {
    this.#implicit = opts.implicitDir ?? { mode: 0o755, uid: 0, gid: 0 };
  }

  get size(): number {
    return this.#entries.size;
  }

  get(path: string): InitrdEntry | undefined {
    return this.#entries.get(normalizeEntryPath(path));
  }

  has(path: string): boolean {
    return this.#entries.has(normalizeEntryPath(path));
  }

  /**
   * Add or replace an entry (a layer's later entry wins). Missing parents
   * become directories; a parent that exists and is not a directory is an
   * error. Replacing a directory by a non-directory removes what it held.
   */
  set(entry: InitrdEntry): void {
    const path = normalizeEntryPath(entry.path);
    const e: InitrdEntry = { ...entry, path };
    if (e.type === 'hardlink') {
      const target = normalizeEntryPath(e.linkTarget ?? '');
      const t = this.#entries.get(target);
      if (t === undefined) throw new CoracleError(`${path}: hardlink to ${target}, which does not exist`);
      // Links always point at the regular file that holds the data.
      const file = t.type === 'hardlink' ? normalizeEntryPath(t.linkTarget!) : target;
      if (this.#entries.get(file)?.type !== 'file') throw new CoracleError(`${path}: hardlink to ${target}, which is not a regular file`);
      if (file === path) return;
      e.linkTarget = file;
    }
    this.#ensureParents(path);
    const old = this.#entries.get(path);
    if (old !== undefined) {
      if (old.type === 'dir' && e.type === 'dir') {
        this.#entries.set(path, e);
        return;
      }
      this.delete(path);
    }
    this.#entries.set(path, e);
    if (e.type === 'hardlink') {
      const set = this.#links.get(e.linkTarget!) ?? new Set<string>();
      set.add(path);
      this.#links.set(e.linkTarget!, set);
    }
  }

  /** Create a directory and its parents when missing (existing ones are kept). */
  mkdirp(path: string, meta?: { mode: number; uid: number; gid: number; mtime?: number }): void {
    const p = normalizeEntryPath(path);
    const cur = this.#entries.get(p);
    if (cur?.type === 'dir') return;
    this.set({ path: p, type: 'dir', ...(meta ?? this.#implicit) });
  }

  /** Remove an entry and everything below it (an OCI whiteout). Returns whether anything was removed. */
  delete(path: string): boolean {
    const p = normalizeEntryPath(path);
    const e = this.#entries.get(p);
    if (e === undefined) return false;
    if (e.type === 'dir') this.clearDir(p);
    this.#removeOne(p, e);
    return true;
  }

  /** Remove everything below a directory, keeping the directory (an OCI opaque directory). */
  clearDir(path: string): void {
    const prefix = normalizeEntryPath(path) + '/';
    const below = [...this.#entries.keys()].filter((k) => k.startsWith(prefix)).sort().reverse();
    for (const k of below) {
      const e = this.#entries.get(k);
      if (e !== undefined) this.#removeOne(k, e);
    }
  }

  #removeOne(p: string, e: InitrdEntry): void {
    this.#entries.delete(p);
    if (e.type === 'hardlink') {
      this.#links.get(e.linkTarget!)?.delete(p);
      return;
    }
    // A file other entries link to: the first remaining link takes over its data.
    const links = this.#links.get(p);
    this.#links.delete(p);
    if (e.type !== 'file' || links === undefined || links.size === 0) return;
    const [heir, ...rest] = [...links].sort();
    this.#entries.set(heir!, { ...e, path: heir! });
    if (rest.length > 0) {
      this.#links.set(heir!, new Set(rest));
      for (const r of rest) this.#entries.set(r, { ...this.#entries.get(r)!, linkTarget: heir! });
    }
  }

  #ensureParents(path: string): void {
    const parent = parentOf(path);
    if (parent === undefined) return;
    const cur = this.#entries.get(parent);
    if (cur === undefined) {
      this.#ensureParents(parent);
      this.#entries.set(parent, { path: parent, type: 'dir', ...this.#implicit });
    } else if (cur.type !== 'dir') {
      throw new CoracleError(`${path}: parent ${parent} is a ${cur.type}, not a directory`);
    }
  }

  /**
   * Every entry, parents before children (sorted by path: same tree, same
   * order). With `prefix`, paths (and hardlink targets) are placed under it:
   * e.g. `containers/services/sshd/rootfs`; the prefix's own directories are
   * not included.
   */
  entries(opts: { prefix?: string } = {}): InitrdEntry[] {
    const prefix = opts.prefix === undefined ? '' : normalizeEntryPath(opts.prefix) + '/';
    const keys = [...this.#entries.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return keys.map((k) => {
      const e = this.#entries.get(k)!;
      if (prefix === '') return e;
      const out: InitrdEntry = { ...e, path: prefix + e.path };
      if (e.type === 'hardlink') out.linkTarget = prefix + e.linkTarget!;
      return out;
    });
  }
}

/** Directory entries for `path` and each of its parents, outermost first (for placing a prefixed tree). */
export function dirChain(path: string, meta: { mode: number; uid: number; gid: number; mtime?: number } = { mode: 0o755, uid: 0, gid: 0 }): InitrdEntry[] {
  const parts = normalizeEntryPath(path).split('/');
  return parts.map((_, i) => ({ path: parts.slice(0, i + 1).join('/'), type: 'dir' as const, ...meta }));
}

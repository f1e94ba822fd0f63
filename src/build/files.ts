/**
 * The spec's `files:` section as initrd entries, with LinuxKit's rules:
 * files default to 0600 and directories to 0700; missing parent directories
 * are created with the entry's mode plus the matching execute bits and its
 * owner; `source` is read from the host (relative to the spec file's
 * folder, `~/` to the home directory), and an `optional` source that cannot
 * be read is skipped; `metadata: yaml|json` writes the build's own spec.
 * A source that resolves (symlinks followed) outside the spec's folder —
 * `../../etc/shadow`, an absolute path, `~/` — is refused unless the build
 * allows it (`--allow-outside-sources`): a spec from elsewhere must not
 * copy the builder's secrets into an image.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, resolve, sep } from 'node:path';
import { CoracleError } from '../errors.js';
import type { InitrdEntry } from '../initrd/types.js';
import { resolveId, type IdMap } from '../runtime/ids.js';
import type { FileEntry, SystemSpec } from '../spec/types.js';

const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

/** LinuxKit gives implicit parents the file's mode with an execute bit wherever a class may read or write. */
export function parentDirMode(mode: number): number {
  let m = mode & 0o7777;
  if (m & 0o700) m |= 0o100;
  if (m & 0o070) m |= 0o010;
  if (m & 0o007) m |= 0o001;
  return m;
}

function where(f: FileEntry): string {
  return `${f.loc.file}:${f.loc.line}:${f.loc.col}: files: ${f.path}`;
}

function hostPath(source: string, specFile: string): string {
  if (source.startsWith('~/')) return resolve(homedir(), source.slice(2));
  return isAbsolute(source) ? source : resolve(dirname(specFile), source);
}

/** The spec as `metadata:` renders it: LinuxKit's spelling, without our source locations. */
export async function specMetadata(spec: SystemSpec, format: 'yaml' | 'json'): Promise<string> {
  // loaded only for a `metadata:` entry: a warm rebuild otherwise needs neither
  const doc = (await import('../spec/serialize.js')).specToDocument(spec);
  return format === 'json' ? `${JSON.stringify(doc, null, 4)}\n` : (await import('yaml')).stringify(doc);
}

export interface FilesInput {
  spec: SystemSpec;
  ids: IdMap;
  /** Directories that exist already (from the init images): their metadata is left alone. */
  existingDirs: ReadonlySet<string>;
  /** Reads a host file; injectable for tests. */
  read?: (path: string) => Promise<Buffer>;
  /** Let `source:` read files outside the spec's folder (default: refused). */
  allowOutsideSources?: boolean;
}

/** Whether `path` (symlinks resolved) lies inside `dir` (symlinks resolved); a path that does not exist is judged as written. */
function inside(path: string, dir: string): boolean {
  const real = realpathOr(path);
  const base = realpathOr(dir);
  return real === base || real.startsWith(base.endsWith(sep) ? base : base + sep);
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** Entries for every `files:` item, parents first, in spec order. */
export async function filesEntries(input: FilesInput): Promise<InitrdEntry[]> {
  // synchronous by default: a few small files on every build, quicker than thread-pool round trips
  const read = input.read ?? (async (p: string) => readFileSync(p));
  const out = new Map<string, InitrdEntry>();
  for (const f of input.spec.files) {
    const path = f.path.replace(/^\/+/, '').replace(/\/+$/, '');
    if (path === '' || path.split('/').some((c) => c === '..' || c === '.')) throw new CoracleError(`${where(f)}: path must name a place inside the image`);
    const id = (v: FileEntry['uid'], key: string): number => {
      const n = resolveId(v, input.ids);
      if (n === undefined) throw new CoracleError(`${where(f)}: ${key} ${String(v)} is neither a number nor the name of a container`);
      return n;
    };
    const uid = id(f.uid, 'uid');
    const gid = id(f.gid, 'gid');
    const mode = f.mode ?? (f.directory ? DIR_MODE : FILE_MODE);

    let data: Buffer | undefined;
    if (!f.directory && f.symlink === undefined) {
      if (f.contents !== undefined) data = Buffer.from(f.contents, 'utf8');
      else if (f.source !== undefined) {
        const p = hostPath(f.source, f.loc.file);
        if (!input.allowOutsideSources && !inside(p, dirname(f.loc.file))) {
          throw new CoracleError(`${where(f)}: source ${p} is outside the spec's folder ${resolve(dirname(f.loc.file))} (give --allow-outside-sources to read it)`);
        }
        try {
          data = await read(p);
        } catch (e) {
          if (f.optional) continue;
          const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message;
          throw new CoracleError(`${where(f)}: source ${p} ${why}`);
        }
      } else if (f.metadata !== undefined) data = Buffer.from(await specMetadata(input.spec, f.metadata), 'utf8');
      else throw new CoracleError(`${where(f)}: no contents, source, metadata, directory or symlink`);
    }

    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (out.has(dir) || input.existingDirs.has(dir)) continue;
      out.set(dir, { path: dir, type: 'dir', mode: parentDirMode(mode), uid, gid });
    }
    const base = { path, mode, uid, gid };
    const prev = out.get(path);
    if (prev !== undefined && prev.type === 'dir' && !f.directory)
      throw new CoracleError(`${where(f)}: an earlier entry made ${path} a directory`);
    if (f.directory) out.set(path, { ...base, type: 'dir' });
    else if (f.symlink !== undefined) out.set(path, { ...base, type: 'symlink', linkTarget: f.symlink });
    else out.set(path, { ...base, type: 'file', data: { kind: 'buffer', data: data ?? Buffer.alloc(0) } });
  }
  // Parents before children: sorted paths give that, and the same order every build.
  return [...out.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

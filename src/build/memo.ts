/**
 * The build memo: what a build planned from its spec and images (segment
 * keys, the kernel's cached parts, the images' digests, boot.conf), kept in
 * the build cache, so a rebuild whose plan cannot have changed skips
 * resolving images, reading manifests and configs, and planning containers.
 * Only the `files:` segment is made again each time (its sources are read
 * by every build; their bytes are not in the key).
 *
 * The key holds everything the plan is made from besides content-addressed
 * blobs: the parsed spec (with its source locations and every field), the
 * store's index.json bytes (what each tag names), what `@pkg:` folders and
 * locks resolved to, the build options that shape the plan, the working
 * folder, SOURCE_DATE_EPOCH and the running code's identity. A memo whose
 * segments or kernel parts are gone from the cache (pruned) is not used:
 * the build plans again. Entries are written whole, after a build that
 * succeeded.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pidAlive, TEMP_NAME } from '../files/leftovers.js';
import { writeWhole } from '../files/write-whole.js';
import type { SystemSpec } from '../spec/types.js';
import type { BootConf } from './boot-conf.js';
import { codeId } from './code-id.js';
import type { KernelParts } from './kernel.js';
import type { LockedImage } from './system-lock.js';
import { statQuiet } from '../files/stat-quiet.js';

const FORMAT = 'coracle-build-memo/1';

/** A planned segment, by the content key it is cached under. */
export interface MemoComponent {
  name: string;
  key: string;
  dedupe?: boolean;
}

export interface BuildMemo {
  /** Every segment before `files:`, in order. */
  components: MemoComponent[];
  kernel?: KernelParts;
  /** Directories the init images make (`files:` leaves their metadata alone). */
  initDirs: string[];
  bootConf?: BootConf;
  images: LockedImage[];
  /**
   * The modules segment's key depends on /etc/modules: its text from
   * `files:` when the plan was made (null: not given there). A different
   * text now means planning again.
   */
  etcModules: string | null;
}

/** What the key is made of, besides the code's identity and the store's tags. */
export interface MemoInputs {
  spec: SystemSpec;
  storeRoot: string;
  targets: ReadonlyMap<string, string>;
  options: Record<string, unknown>;
}

export async function memoKey(inputs: MemoInputs): Promise<string> {
  let index: Buffer;
  try {
    index = readFileSync(join(inputs.storeRoot, 'index.json'));
  } catch {
    index = Buffer.alloc(0);
  }
  return createHash('sha256')
    .update(
      JSON.stringify([
        FORMAT,
        await codeId(),
        process.cwd(),
        process.env.SOURCE_DATE_EPOCH ?? null,
        inputs.storeRoot,
        [...inputs.targets].sort(),
        inputs.options,
        inputs.spec,
      ]),
    )
    .update('\0index\0')
    .update(index)
    .digest('hex');
}

const memoFile = (cacheRoot: string, key: string): string => join(cacheRoot, 'memo', `${key}.json`);

/** The memo under `key`, when there is one whose kernel parts are still cached; undefined otherwise. */
export async function readMemo(cacheRoot: string, key: string): Promise<BuildMemo | undefined> {
  let memo: BuildMemo;
  try {
    memo = JSON.parse(readFileSync(memoFile(cacheRoot, key), 'utf8')) as BuildMemo;
  } catch {
    return undefined;
  }
  if (!Array.isArray(memo.components) || !Array.isArray(memo.images) || !Array.isArray(memo.initDirs)) return undefined;
  const k = memo.kernel;
  const parts = k ? [k.kernel, k.vmlinux, k.ucode, k.modulesTar].filter((p): p is string => p !== undefined) : [];
  return parts.every((p) => statQuiet(p)?.isFile() === true) ? memo : undefined;
}

/** Best effort: a memo that cannot be written only costs the next build its planning. */
export async function writeMemo(cacheRoot: string, key: string, memo: BuildMemo): Promise<void> {
  try {
    await mkdir(join(cacheRoot, 'memo'), { recursive: true });
    await writeWhole(memoFile(cacheRoot, key), JSON.stringify(memo));
  } catch {
    /* read-only cache, full disk */
  }
}

/**
 * `coracle cache prune`: memos written longer ago than the grace period go
 * (a memo is only ever a shortcut: the next build plans in full and writes
 * it again), with what interrupted writers left. Returns the paths removed.
 */
export async function pruneMemos(cacheRoot: string, opts: { gracePeriodMs: number; dryRun?: boolean }): Promise<{ removed: string[]; bytes: number }> {
  const dir = join(cacheRoot, 'memo');
  const cutoff = Date.now() - opts.gracePeriodMs;
  const out = { removed: [] as string[], bytes: 0 };
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    const temp = TEMP_NAME.exec(name);
    const st = statQuiet(path);
    if (!st?.isFile()) continue;
    const stale = temp ? !pidAlive(Number(temp[1])) : name.endsWith('.json') && st.mtimeMs <= cutoff;
    if (!stale) continue;
    if (!opts.dryRun) rmSync(path, { force: true });
    out.removed.push(path);
    out.bytes += st.size;
  }
  return out;
}

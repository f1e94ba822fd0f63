/**
 * What the build pipeline (assemble.ts) passes between its stages: the
 * components that become initrd segments, the plan they form, and small
 * helpers both ways of planning (plan.ts, the memo) share.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { BuiltSegment, InitrdEntry } from '../initrd/index.js';
import type { SystemSpec } from '../spec/types.js';
import { bootConfEntries, type BootConf } from './boot-conf.js';
import type { BuildMemo } from './memo.js';
import type { KernelParts } from './kernel.js';
import { ETC_MODULES_FILE } from './module-lists.js';
import type { LockedImage } from './system-lock.js';

/** One initrd segment to be: a content key known up front, entries made only on a cache miss. */
export interface Component {
  name: string;
  /** Caller's content key; undefined lets the writer hash the entries. */
  key?: string;
  dedupe?: boolean;
  entries: () => Promise<InitrdEntry[]>;
  /** Already found in the segment cache (a plan from the memo). */
  hit?: BuiltSegment;
}

/** What the segments and outputs are made from. */
export interface Plan {
  /** Every segment, `files:` last. */
  components: Component[];
  kernel?: KernelParts;
  resolved: LockedImage[];
  /** The same plan, for the memo. */
  memo: BuildMemo;
}

export function sha(parts: unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}


/**
 * Entries of a component that may land on paths an earlier segment holds
 * (a later init image, the modules, `files:`): the kernel opens an existing
 * regular file in place, which would write through to every hardlink of it
 * (busybox's applets), so the writer unlinks such paths first.
 */
export function replacing(entries: InitrdEntry[]): InitrdEntry[] {
  return entries.map((e) => (e.type === 'file' || e.type === 'hardlink' ? { ...e, replace: true } : e));
}

/** /etc/modules as `files:` gives it, or null. */
export async function etcModulesText(files: readonly InitrdEntry[]): Promise<string | null> {
  const f = files.find((e) => e.path === ETC_MODULES_FILE);
  return f ? entryText(f) : null;
}

export async function entryText(e: InitrdEntry): Promise<string> {
  if (e.data?.kind === 'buffer') return Buffer.from(e.data.data).toString('utf8');
  if (e.data?.kind === 'file') return (await readFile(e.data.path)).subarray(e.data.offset ?? 0, e.data.size !== undefined ? (e.data.offset ?? 0) + e.data.size : undefined).toString('utf8');
  return '';
}


/** The `files:` component, with boot.conf (one small segment that changes with the spec); undefined when it holds nothing. */
export function finishFiles(spec: SystemSpec, files: InitrdEntry[], initDirs: ReadonlySet<string>, bootConf: BootConf | undefined): Component | undefined {
  const all = [...files];
  if (spec.init.length > 0 && bootConf) all.push(...bootConfEntries(bootConf, new Set([...initDirs, ...files.filter((e) => e.type === 'dir').map((e) => e.path)])));
  return all.length > 0 ? { name: 'files', entries: async () => replacing(all) } : undefined;
}

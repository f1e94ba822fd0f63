/**
 * Temporary files a killed process left behind. Every temporary name
 * Coracle writes carries the writer's pid; a file whose writer is no longer
 * running is debris (a SIGKILL between write and rename) and is removed by
 * the next run. A live writer's files are left alone, so concurrent builds
 * into one folder or one store do not step on each other.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { statQuiet } from './stat-quiet.js';

/** Output folders and the segment cache: `.NAME.tmp-PID-HEX`, `.tmp-KEY16-PID-HEX`, `NAME.json.tmp-PID-HEX`. */
export const TEMP_NAME = /\.tmp-(?:[0-9a-f]{16}-)?(\d+)-[0-9a-f]{8}$/;

/** Whether a process with this pid exists (EPERM: it does, not ours). */
export function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface Leftover {
  path: string;
  size: number;
}

/** The files (with `dirs`, folders too) in `dir` whose name matches `pattern` (group 1: the writer's pid) and whose writer is gone. */
export async function deadTemps(dir: string, pattern: RegExp = TEMP_NAME, opts: { dirs?: boolean } = {}): Promise<Leftover[]> {
  // synchronous: run at the start of most commands, usually over an empty or small folder
  const out: Leftover[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    names = [];
  }
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const st = statQuiet(join(dir, name));
    if (st?.isFile() || (opts.dirs && st?.isDirectory())) out.push({ path: join(dir, name), size: st.size });
  }
  return out;
}

/** Remove what deadTemps finds; returns what was removed. Errors (a file already gone) are ignored. */
export async function removeDeadTemps(dir: string, pattern: RegExp = TEMP_NAME, opts: { dirs?: boolean } = {}): Promise<Leftover[]> {
  const found = await deadTemps(dir, pattern, opts);
  for (const f of found) {
    try {
      rmSync(f.path, { force: true, recursive: opts.dirs === true });
    } catch {
      /* gone already */
    }
  }
  return found;
}

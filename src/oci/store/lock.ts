import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { CoracleError } from '../../errors.js';

/**
 * A cross-process lock file created with O_EXCL. Holders keep it for
 * milliseconds (read-modify-write of index.json), so a lock whose owner
 * process is gone, or that is older than `staleMs`, is broken. Breaking goes
 * through a second O_EXCL file so two waiters cannot both break the lock and
 * then remove each other's fresh one.
 */
export interface LockOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
  /** A lock older than this is stale even when its owner looks alive (default 30 s). */
  staleMs?: number;
}

interface Owner {
  pid: number;
  host: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(path: string): Promise<Owner | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    const o = JSON.parse(text) as Partial<Owner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string') return { pid: o.pid, host: o.host };
  } catch {
    /* unreadable or half-written: judged by age alone */
  }
  return undefined;
}

async function tryCreate(path: string): Promise<boolean> {
  try {
    const fh = await open(path, 'wx');
    try {
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: hostname(), time: new Date().toISOString() }));
    } finally {
      await fh.close();
    }
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

async function isStale(path: string, staleMs: number): Promise<boolean> {
  let st;
  try {
    st = await stat(path);
  } catch {
    return false; // gone already: just retry creating
  }
  const owner = await readOwner(path);
  if (owner && owner.host === hostname() && owner.pid !== process.pid && !alive(owner.pid)) return true;
  return Date.now() - st.mtimeMs > staleMs;
}

/** Remove a stale lock, guarded by `<lock>.break` so only one waiter does it. */
async function breakStale(path: string, staleMs: number): Promise<void> {
  const breaker = `${path}.break`;
  if (!(await tryCreate(breaker))) {
    // Someone else is breaking it; a breaker left by a crashed process is itself stale.
    try {
      const st = await stat(breaker);
      if (Date.now() - st.mtimeMs > Math.max(staleMs, 5_000)) await unlink(breaker).catch(() => undefined);
    } catch {
      /* gone */
    }
    return;
  }
  try {
    if (await isStale(path, staleMs)) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(breaker).catch(() => undefined);
  }
}

/** Run `fn` holding the lock file at `path`. */
export async function withLock<T>(path: string, fn: () => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const staleMs = opts.staleMs ?? 30_000;
  const start = Date.now();
  let delay = 2;
  while (!(await tryCreate(path))) {
    if (await isStale(path, staleMs)) {
      await breakStale(path, staleMs);
      continue;
    }
    if (Date.now() - start > timeoutMs) {
      const owner = await readOwner(path);
      const who = owner ? ` by process ${owner.pid} on ${owner.host}` : '';
      throw new CoracleError(`${path} is locked${who}; if no coracle process is running, remove the file`);
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 50);
  }
  // Keep the lock fresh during long critical sections (they should not be long).
  const keepAlive = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(1_000, staleMs / 3));
  keepAlive.unref();
  try {
    return await fn();
  } finally {
    clearInterval(keepAlive);
    await unlink(path).catch(() => undefined);
  }
}

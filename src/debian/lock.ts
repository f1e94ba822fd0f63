import { mkdir, rmdir, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A lock between processes sharing one cache folder: `mkdir` is atomic.
 * A lock older than `staleMs` is taken over (its holder died).
 */
export async function withDirLock<T>(path: string, fn: () => Promise<T>, staleMs = 15 * 60_000): Promise<T> {
  for (;;) {
    try {
      await mkdir(path);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(path.replace(/\/[^/]+$/, ''), { recursive: true });
        continue;
      }
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > staleMs) await rmdir(path).catch(() => {});
      else await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    await rmdir(path).catch(() => {});
  }
}

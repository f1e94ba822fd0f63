import { homedir } from 'node:os';
import { join } from 'node:path';

/** $CORACLE_CACHE, else $XDG_CACHE_HOME/coracle, else ~/.cache/coracle. */
export function defaultStoreRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CORACLE_CACHE) return env.CORACLE_CACHE;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'coracle');
  return join(homedir(), '.cache', 'coracle');
}

import type { Command } from 'commander';
import { defaultStoreRoot } from '../oci/store/location.js';

/** The store folder from the global --cache option, the environment or the default. */
export function storeRootFrom(cmd: Command): string {
  const opts = cmd.optsWithGlobals() as { cache?: string };
  return opts.cache ?? defaultStoreRoot();
}

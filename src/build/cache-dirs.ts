import { join } from 'node:path';

/** Where `coracle build` keeps what it can make again, inside the store (STORE/build-cache). */
export function buildCacheDir(storeRoot: string): string {
  return join(storeRoot, 'build-cache');
}

/** The cached disk images (one folder per format and content) and whole initrds they are made from. */
export function diskImageCacheDir(storeRoot: string): string {
  return join(buildCacheDir(storeRoot), 'images');
}

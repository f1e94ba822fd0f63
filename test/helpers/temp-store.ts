/** A fresh OCI layout store in a temporary folder for each test, removed after it. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { openStore, type LayoutStore } from '../../src/oci/store/layout-store.js';

export interface TempStore {
  /** the temporary folder (the store is its `store/` subfolder) */
  root: string;
  store: LayoutStore;
}

/** Registers beforeEach/afterEach; `use` receives each test's folder and store. */
export function tempStoreEach(prefix: string, use: (t: TempStore) => void): void {
  let root: string | undefined;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), prefix));
    use({ root, store: await openStore(join(root, 'store')) });
  });
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
    root = undefined;
  });
}

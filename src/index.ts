/** Coracle's library API: what the CLI uses, for programs that embed Coracle. */
export * from './errors.js';
export * from './progress/reporter.js';
export * from './oci/types.js';
export type { ContentStore } from './oci/store/content-store.js';
export { defaultStoreRoot } from './oci/store/location.js';
export * from './oci/ref.js';
export * from './spec/types.js';
export * from './initrd/index.js';
export * from './oci/digest.js';
export * from './oci/platform.js';
export * from './oci/image.js';
export { openStore, storeRefName, type LayoutStore, type BlobData, type WriteBlobOptions, type BlobInfo } from './oci/store/layout-store.js';
export { pruneStore, reachableDigests, type PruneOptions, type PruneResult } from './oci/store/prune.js';
export * from './tar/index.js';
export * from './runtime/index.js';
export * from './oci/layout/index.js';

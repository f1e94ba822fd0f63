/** The initrd writer: newc cpio segments, compressed, cached, concatenated. */
export type * from './types.js';
export { writeSegment, cachedSegment, pruneSegmentCache, segmentKey, defaultMtime, SEGMENT_ALIGN, SMALL_LZ4_ARCHIVE } from './segment.js';
export { writeInitrd } from './initrd.js';
export { FsTree, dirChain, type FsTreeOptions } from './tree.js';
export { NEWC_FIELD_MAX, NEWC_NAME_MAX, normalizeEntryPath } from './newc.js';

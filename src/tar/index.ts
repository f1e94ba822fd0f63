/** Streaming tar: a reader for ustar/GNU/PAX archives and a deterministic ustar+PAX writer. */
export { readTar, type TarEntry, type TarHeader, type ReadTarOptions } from './reader.js';
export { TarWriter, type TarWriteEntry, type TarWriteHeader, type TarBodySource } from './writer.js';
export type { TarEntryType } from './header.js';

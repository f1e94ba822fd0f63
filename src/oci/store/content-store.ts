import type { Readable } from 'node:stream';
import type { Descriptor, Digest } from '../types.js';
import type { ResumableSource } from './resumable-source.js';

/**
 * The local image store: an OCI image layout on disk (`oci-layout`,
 * `index.json`, `blobs/sha256/...`). Blobs are verified before they become
 * visible; ref names live in index.json as `org.opencontainers.image.ref.name`
 * annotations holding the full canonical reference
 * (`docker.io/library/alpine:3.20`).
 *
 * This interface is what the registry client, package builder and assembler
 * depend on; `LayoutStore` (layout-store.ts) implements it.
 */
export interface ContentStore {
  /** Root folder of the OCI layout. */
  readonly root: string;
  hasBlob(digest: Digest): Promise<boolean>;
  /** Path of a blob that exists; throws CoracleError when missing. */
  blobPath(digest: Digest): string;
  readBlob(digest: Digest): Promise<Buffer>;
  openBlob(digest: Digest): Readable;
  /**
   * Store bytes. With `expected`, the digest (and size when given) is
   * verified and a mismatch stores nothing. Returns the descriptor
   * (mediaType as given, or application/octet-stream). A ResumableSource is
   * opened by the store and resumed from where it stopped when it says so.
   */
  writeBlob(
    data: Buffer | Uint8Array | string | Readable | AsyncIterable<Uint8Array> | ResumableSource,
    opts?: { expected?: { digest: Digest; size?: number }; mediaType?: string; onBytes?: (n: number) => void },
  ): Promise<Descriptor>;
  /** The descriptor a ref name points at, or undefined. */
  getRef(name: string): Promise<Descriptor | undefined>;
  /** Point a ref name at a manifest or index descriptor (replaces). */
  setRef(name: string, desc: Descriptor): Promise<void>;
  deleteRef(name: string): Promise<boolean>;
  listRefs(): Promise<Array<{ name: string; descriptor: Descriptor }>>;
}

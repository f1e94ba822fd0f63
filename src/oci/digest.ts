import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback, type Readable } from 'node:stream';
import { CoracleError } from '../errors.js';
import type { Digest } from './types.js';

/** Digest algorithms we can verify, with the hex length OCI requires. */
const ALGORITHMS: Record<string, number> = { sha256: 64, sha512: 128 };

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha512';
  hex: string;
}

/** True for `sha256:<64 lower hex>` (or sha512 with 128). */
export function isDigest(value: unknown): value is Digest {
  if (typeof value !== 'string') return false;
  const m = /^([a-z0-9]+):([a-f0-9]+)$/.exec(value);
  return m !== null && ALGORITHMS[m[1]!] === m[2]!.length;
}

/** Split and validate a digest; CoracleError naming `what` (e.g. the image) when malformed. */
export function parseDigest(value: string, what?: string): ParsedDigest {
  if (!isDigest(value)) {
    const where = what ? ` in ${what}` : '';
    throw new CoracleError(`invalid digest "${value}"${where}: expected sha256:<64 hex characters>`);
  }
  const i = value.indexOf(':');
  return { algorithm: value.slice(0, i) as ParsedDigest['algorithm'], hex: value.slice(i + 1) };
}

export function digestHex(digest: Digest): string {
  return parseDigest(digest).hex;
}

export function sha256Digest(data: Buffer | Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Digest of some bytes with the algorithm of `like` (sha256 by default). */
export function digestWith(algorithm: ParsedDigest['algorithm'], data: Buffer | Uint8Array | string): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

/** Throw CoracleError when bytes do not match an expected digest (and size). */
export function verifyBytes(data: Buffer | Uint8Array, expected: { digest: Digest; size?: number }, what: string): void {
  const { algorithm } = parseDigest(expected.digest, what);
  if (expected.size !== undefined && data.length !== expected.size)
    throw new CoracleError(`${what}: size mismatch: expected ${expected.size} bytes, got ${data.length}`);
  const actual = digestWith(algorithm, data);
  if (actual !== expected.digest)
    throw new CoracleError(`${what}: digest mismatch: expected ${expected.digest}, got ${actual}`);
}

/**
 * Hashes (and counts) bytes fed to it in order. With `expected`, `update`
 * throws a CoracleError as soon as the size is exceeded and `finish` throws
 * when the size or digest differs. The one place blob bytes are verified,
 * whether they flow through a stream (DigestStream) or a plain loop.
 */
export class DigestVerifier {
  private readonly hash: Hash;
  readonly algorithm: ParsedDigest['algorithm'];
  private finalDigest: Digest | undefined;
  /** Bytes seen so far. */
  size = 0;

  constructor(
    private readonly expected?: { digest: Digest; size?: number },
    private readonly what = 'blob',
  ) {
    this.algorithm = expected ? parseDigest(expected.digest, what).algorithm : 'sha256';
    this.hash = createHash(this.algorithm);
  }

  update(chunk: Uint8Array): void {
    this.size += chunk.length;
    if (this.expected?.size !== undefined && this.size > this.expected.size) {
      throw new CoracleError(`${this.what}: size mismatch: more than the expected ${this.expected.size} bytes`);
    }
    this.hash.update(chunk);
  }

  /** End of the bytes: the digest, checked against `expected`. */
  finish(): Digest {
    this.finalDigest = `${this.algorithm}:${this.hash.digest('hex')}`;
    const exp = this.expected;
    if (exp?.size !== undefined && this.size !== exp.size) {
      throw new CoracleError(`${this.what}: size mismatch: expected ${exp.size} bytes, got ${this.size}`);
    }
    if (exp && this.finalDigest !== exp.digest) {
      throw new CoracleError(`${this.what}: digest mismatch: expected ${exp.digest}, got ${this.finalDigest}`);
    }
    return this.finalDigest;
  }

  /** The digest, available once finish() has run. */
  digest(): Digest {
    if (this.finalDigest === undefined) throw new Error('DigestVerifier: digest() before finish()');
    return this.finalDigest;
  }
}

/**
 * A pass-through stream that hashes (and counts) what flows through it.
 * With `expected`, it fails the stream with a CoracleError at the end when
 * the digest differs, and as soon as the size is exceeded.
 */
export class DigestStream extends Transform {
  private readonly verifier: DigestVerifier;

  constructor(expected?: { digest: Digest; size?: number }, what = 'blob') {
    super();
    this.verifier = new DigestVerifier(expected, what);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.verifier.size;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.verifier.update(chunk);
    } catch (e) {
      cb(e as Error);
      return;
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.verifier.finish();
    } catch (e) {
      cb(e as Error);
      return;
    }
    cb();
  }

  /** The digest, available once the stream has ended. */
  digest(): Digest {
    try {
      return this.verifier.digest();
    } catch {
      throw new Error('DigestStream: digest() before the end of the stream');
    }
  }
}

/** Hash a whole stream: its sha256 digest and size. */
export async function digestOfStream(source: Readable | AsyncIterable<Uint8Array>): Promise<{ digest: Digest; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

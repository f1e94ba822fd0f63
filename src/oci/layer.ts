import { spawn } from 'node:child_process';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CoracleError } from '../errors.js';
import { DigestStream } from './digest.js';
import type { Descriptor, Digest } from './types.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

/** How a layer blob is compressed, from its media type. */
export function layerCompression(mediaType: string): LayerCompression {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip') || mediaType.endsWith('.tar.gz')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('.diff.tar')) return 'none';
  throw new CoracleError(`layer ${mediaType} is not a tar layer Coracle can unpack`);
}

/** zstd -d through the CLI: Node 20's zlib has no zstd. */
function zstdDecompress(input: Readable, what: string): Readable {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('error', (e) => out.destroy(new CoracleError(`${what}: cannot run zstd: ${e.message}`)));
  child.on('close', (code) => {
    if (code !== 0) out.destroy(new CoracleError(`${what}: zstd failed: ${stderr.trim() || `exit ${code}`}`));
  });
  input.on('error', (e) => {
    child.kill();
    out.destroy(e);
  });
  child.stdin.on('error', () => {});
  input.pipe(child.stdin);
  child.stdout.pipe(out);
  return out;
}

/**
 * The uncompressed tar stream of a layer. The compressed bytes are checked
 * against the descriptor by `open`; with `diffId` the uncompressed bytes are
 * checked too, so a layer whose content does not match the image config fails.
 */
/** Passes bytes through, failing as soon as they exceed `size` or end short of it. */
function sizeCheck(size: number, what: string): Transform {
  let seen = 0;
  const wrong = (n: string) => new CoracleError(`${what}: the blob holds ${n} bytes but its descriptor says ${size}`);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > size) cb(wrong(`more than ${size}`));
      else cb(null, chunk);
    },
    flush(cb) {
      cb(seen === size ? null : wrong(String(seen)));
    },
  });
}

export function openLayerTar(open: (digest: Digest) => Readable, layer: Descriptor, what: string, diffId?: Digest): Readable {
  const blob = open(layer.digest);
  // The declared size is checked too: a descriptor that lies about it is refused.
  let raw: Readable = blob;
  if (Number.isSafeInteger(layer.size) && layer.size >= 0) {
    const check = sizeCheck(layer.size, what);
    blob.on('error', (e) => check.destroy(e));
    raw = blob.pipe(check);
  }
  const comp = layerCompression(layer.mediaType);
  let tar: Readable;
  if (comp === 'gzip') {
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    tar = raw.pipe(gunzip);
  } else if (comp === 'zstd') tar = zstdDecompress(raw, what);
  else tar = raw;
  if (diffId === undefined) return tar;
  const check = new DigestStream({ digest: diffId }, `${what} (uncompressed content does not match diff_id ${diffId})`);
  tar.on('error', (e) => check.destroy(e));
  return tar.pipe(check);
}

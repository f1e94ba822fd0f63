/**
 * LZ4 in its legacy frame, in process, for small segments: starting the
 * `lz4` CLI costs more than compressing a few KiB (a one-file rebuild
 * compresses only the `files:` segment). The longest match among the
 * last few positions sharing a 4-byte hash, one position of lazy look-ahead;
 * deterministic. Large segments still go to the
 * CLI, whose high-compression mode packs tighter.
 *
 * Format facts (LZ4 block and frame docs): the legacy frame is the magic
 * 0x184C2102 (little-endian), then blocks, each a little-endian 32-bit
 * compressed size and an LZ4 block of up to 8 MiB of input. A block is a
 * run of sequences: a token (literal length in the high nibble, match length
 * - 4 in the low nibble, 15 meaning "more bytes follow", each 255 adding
 * and the first smaller one ending), the literals, a little-endian 16-bit
 * offset back (1..65535), then the match length's extra bytes. The last
 * sequence is literals only; the last 5 bytes of a block are literals and
 * no match starts within its last 12 bytes.
 */

const MAGIC = 0x184c2102;
/** Input per block: the kernel's unlz4 decodes every legacy block into 8 MiB. */
const BLOCK = 8 << 20;
const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
const MAX_OFFSET = 65535;
/** Hash table bits: at most 16, fewer for small input (a smaller table to clear). */
const MAX_HASH_LOG = 16;
/** Candidates tried per position: near LZ4 HC's ratio on small segments, still far faster than starting the CLI. */
const CHAIN_DEPTH = 32;

/** Upper bound of a block's compressed size for `n` input bytes (LZ4_compressBound). */
function bound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

function writeLength(out: Uint8Array, pos: number, n: number): number {
  while (n >= 255) {
    out[pos++] = 255;
    n -= 255;
  }
  out[pos++] = n;
  return pos;
}

/** One LZ4 block of `src`; returns its length in `out` from `start`. */
function compressBlock(src: Uint8Array, out: Uint8Array, start: number, head: Int32Array, hashLog: number): number {
  const n = src.length;
  let op = start;
  let anchor = 0;
  head.fill(-1);
  // positions with the same hash, newest first: the longest of the last CHAIN_DEPTH candidates wins
  const chain = new Int32Array(n);
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const hash = (i: number): number => Math.imul(view.getUint32(i, true), 2654435761) >>> (32 - hashLog);
  let hashed = 0;
  const insertUpTo = (end: number): void => {
    for (; hashed < end; hashed++) {
      const h = hash(hashed);
      chain[hashed] = head[h]!;
      head[h] = hashed;
    }
  };
  const emit = (litEnd: number, offset: number, matchLen: number): void => {
    const lit = litEnd - anchor;
    const token = op++;
    out[token] = (Math.min(lit, 15) << 4) | (matchLen === 0 ? 0 : Math.min(matchLen - MIN_MATCH, 15));
    if (lit >= 15) op = writeLength(out, op, lit - 15);
    out.set(src.subarray(anchor, litEnd), op);
    op += lit;
    if (matchLen === 0) return;
    out[op++] = offset & 0xff;
    out[op++] = offset >>> 8;
    if (matchLen - MIN_MATCH >= 15) op = writeLength(out, op, matchLen - MIN_MATCH - 15);
  };
  if (n > MF_LIMIT) {
    const matchStartLimit = n - MF_LIMIT;
    const matchEndLimit = n - LAST_LITERALS;
    // the longest match at `at` among the last CHAIN_DEPTH positions with its hash: [length, position] or undefined
    const longest = (at: number): [number, number] | undefined => {
      insertUpTo(at);
      const word = view.getUint32(at, true);
      let best = 0;
      let bestPos = -1;
      let cand = head[hash(at)]!;
      for (let depth = 0; cand >= 0 && at - cand <= MAX_OFFSET && depth < CHAIN_DEPTH; depth++, cand = chain[cand]!) {
        if (view.getUint32(cand, true) !== word || src[cand + best] !== src[at + best]) continue;
        let len = MIN_MATCH;
        while (at + len < matchEndLimit && src[cand + len] === src[at + len]) len++;
        if (len > best) {
          best = len;
          bestPos = cand;
          if (at + len >= matchEndLimit) break;
        }
      }
      return bestPos < 0 ? undefined : [best, bestPos];
    };
    let i = 0;
    while (i <= matchStartLimit) {
      let m = longest(i);
      if (m === undefined) {
        i++;
        continue;
      }
      // lazy: a longer match one byte on is worth a literal
      const next = i + 1 <= matchStartLimit ? longest(i + 1) : undefined;
      if (next !== undefined && next[0] > m[0] + 1) {
        i++;
        m = next;
      }
      emit(i, i - m[1], m[0]);
      i += m[0];
      anchor = i;
    }
  }
  emit(n, 0, 0);
  return op - start;
}

/** `data` compressed as an LZ4 legacy stream, as `lz4 -l` would frame it (the bytes differ; any LZ4 decoder reads both). */
export function lz4LegacyCompress(data: Uint8Array): Buffer {
  const blocks = Math.max(1, Math.ceil(data.length / BLOCK));
  const out = Buffer.allocUnsafe(4 + blocks * 4 + bound(data.length) + blocks * 16);
  out.writeUInt32LE(MAGIC, 0);
  let pos = 4;
  const hashLog = Math.min(MAX_HASH_LOG, Math.max(8, Math.ceil(Math.log2(Math.max(1, Math.min(data.length, BLOCK))))));
  const table = new Int32Array(1 << hashLog);
  for (let off = 0; off < data.length || off === 0; off += BLOCK) {
    const len = compressBlock(data.subarray(off, Math.min(off + BLOCK, data.length)), out, pos + 4, table, hashLog);
    out.writeUInt32LE(len, pos);
    pos += 4 + len;
    if (data.length === 0) break;
  }
  return out.subarray(0, pos);
}

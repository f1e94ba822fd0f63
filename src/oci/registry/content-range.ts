/**
 * The Range request that resumes a blob download and the check of the
 * Content-Range a 206 answers with (RFC 9110 14.2, 14.4).
 */

/** `Range` header value asking for the bytes from `offset` to the end. */
export function rangeFrom(offset: number): string {
  return `bytes=${offset}-`;
}

export interface ContentRange {
  start: number;
  end: number;
  /** The whole representation's length; undefined for `*`. */
  total: number | undefined;
}

/** `bytes START-END/TOTAL` (TOTAL may be `*`); undefined when absent or malformed. */
export function parseContentRange(value: string | null): ContentRange | undefined {
  if (!value) return undefined;
  const m = /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(value.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || end >= total)) return undefined;
  return { start, end, total };
}

/**
 * Why a 206 does not continue the blob at `offset` (a blob of `size` bytes
 * when known), or undefined when it does: it must start at `offset` and run
 * to the blob's end.
 */
export function rangeMismatch(range: ContentRange | undefined, raw: string | null, offset: number, size: number | undefined): string | undefined {
  if (!range) return `206 with Content-Range "${raw ?? ''}"`;
  if (range.start !== offset) return `206 from byte ${range.start}, asked from ${offset}`;
  if (size !== undefined && (range.end !== size - 1 || (range.total !== undefined && range.total !== size))) {
    return `206 with Content-Range "${raw ?? ''}" for a blob of ${size} bytes`;
  }
  return undefined;
}

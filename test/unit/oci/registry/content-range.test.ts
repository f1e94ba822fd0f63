import { describe, expect, it } from 'vitest';
import { parseContentRange, rangeFrom, rangeMismatch } from '../../../../src/oci/registry/content-range.js';

describe('Range and Content-Range', () => {
  it('asks for the bytes from an offset to the end', () => {
    expect(rangeFrom(123)).toBe('bytes=123-');
  });

  it('parses bytes START-END/TOTAL and /*, refuses the malformed', () => {
    expect(parseContentRange('bytes 10-99/100')).toEqual({ start: 10, end: 99, total: 100 });
    expect(parseContentRange('bytes 10-99/*')).toEqual({ start: 10, end: 99, total: undefined });
    for (const bad of [null, '', 'bytes */100', 'bytes 10-9/100', 'bytes 10-100/100', 'bytes=10-99/100', 'bytes -5-99/100', 'items 1-2/3']) {
      expect(parseContentRange(bad), String(bad)).toBeUndefined();
    }
  });

  it('a 206 continues the blob only from the offset to its last byte', () => {
    const r = (v: string) => parseContentRange(v);
    expect(rangeMismatch(r('bytes 10-99/100'), 'bytes 10-99/100', 10, 100)).toBeUndefined();
    expect(rangeMismatch(r('bytes 10-99/*'), 'bytes 10-99/*', 10, 100)).toBeUndefined();
    expect(rangeMismatch(r('bytes 10-99/100'), 'bytes 10-99/100', 10, undefined)).toBeUndefined();
    expect(rangeMismatch(r('bytes 0-99/100'), 'bytes 0-99/100', 10, 100)).toBe('206 from byte 0, asked from 10');
    expect(rangeMismatch(r('bytes 10-50/100'), 'bytes 10-50/100', 10, 100)).toBe('206 with Content-Range "bytes 10-50/100" for a blob of 100 bytes');
    expect(rangeMismatch(r('bytes 10-99/120'), 'bytes 10-99/120', 10, 100)).toBe('206 with Content-Range "bytes 10-99/120" for a blob of 100 bytes');
    expect(rangeMismatch(undefined, null, 10, 100)).toBe('206 with Content-Range ""');
  });
});

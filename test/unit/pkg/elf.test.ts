import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { isElf, parseElf } from '../../../src/pkg/elf.js';

describe('ELF dynamic section', () => {
  it("reads Debian runc's interpreter and needed libraries", async () => {
    // Debian bookworm's runc links libseccomp and glibc (its package Depends say so too).
    const info = parseElf(await readFile('/usr/sbin/runc'));
    expect(info.interpreter).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(info.needed.sort()).toEqual(['libc.so.6', 'libseccomp.so.2']);
  });

  it('sees no needed libraries in a static binary', async () => {
    const buf = await readFile('/bin/busybox');
    expect(isElf(buf)).toBe(true);
    const info = parseElf(buf);
    expect(info.needed).toEqual([]);
    expect(info.interpreter).toBeUndefined();
  });

  it('rejects other files', () => {
    expect(() => parseElf(Buffer.from('#!/bin/sh\n'.padEnd(100)))).toThrow(/not an ELF/);
  });
});

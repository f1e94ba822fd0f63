import { describe, expect, it } from 'vitest';
import { globToRegExp } from '../../../src/pkg/glob.js';

describe('globs', () => {
  const m = (g: string, p: string) => globToRegExp(g).test(p);
  it('keeps * within a segment and lets ** cross them', () => {
    expect(m('usr/share/**', 'usr/share/doc/x/y')).toBe(true);
    expect(m('usr/share/**', 'usr/share')).toBe(false);
    expect(m('/lib/x86_64-linux-gnu/*.so*', 'lib/x86_64-linux-gnu/libc.so.6')).toBe(true);
    expect(m('lib/x86_64-linux-gnu/*.so*', 'lib/x86_64-linux-gnu/gconv/a.so')).toBe(false);
    expect(m('**/*.h', 'a/b/c.h')).toBe(true);
    expect(m('**/*.h', 'c.h')).toBe(true);
    expect(m('linux-image-*-cloud-amd64', 'linux-image-6.1.0-56-cloud-amd64')).toBe(true);
    expect(m('linux-image-*-cloud-amd64', 'linux-image-cloud-amd64')).toBe(false);
    expect(m('a?c', 'abc')).toBe(true);
    expect(m('a.c', 'abc')).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import { DiagnosticsError } from '../../../src/errors.js';
import { mergeSpecs, parseSpec } from '../../../src/spec/index.js';
import { specToDocument } from '../../../src/spec/serialize.js';

describe('kernel.modules', () => {
  it('takes a list of names (each with its position) or "all"', () => {
    const a = parseSpec('kernel:\n  image: k:1\n  modules:\n    - nf_tables\n    - fs-btrfs\n', 'a.yml').spec;
    expect(a.kernel?.modules).toEqual(['nf_tables', 'fs-btrfs']);
    expect(a.kernel?.moduleLocs?.map((l) => [l.line, l.col])).toEqual([[4, 7], [5, 7]]);
    expect(parseSpec('kernel:\n  image: k:1\n  modules: all\n', 'b.yml').spec.kernel?.modules).toBe('all');
    expect(parseSpec('kernel:\n  image: k:1\n', 'c.yml').spec.kernel?.modules).toBeUndefined();
  });

  it('a later spec replaces the list; the kernel image stays', () => {
    const a = parseSpec('kernel:\n  image: k:1\n  modules: [bridge]\n', 'a.yml').spec;
    const b = parseSpec('kernel:\n  modules: all\n', 'b.yml').spec;
    const c = parseSpec('kernel:\n  cmdline: quiet\n', 'c.yml').spec;
    expect(mergeSpecs([a, b]).kernel).toMatchObject({ image: 'k:1', modules: 'all' });
    expect(mergeSpecs([a, b]).kernel?.moduleLocs).toBeUndefined();
    expect(mergeSpecs([a, c]).kernel).toMatchObject({ image: 'k:1', modules: ['bridge'] });
    expect(specToDocument(mergeSpecs([a, c])).kernel).toEqual({ image: 'k:1', cmdline: 'quiet', modules: ['bridge'] });
  });

  it('anything else is an error at its position', () => {
    for (const bad of ['kernel:\n  image: k:1\n  modules: some\n', 'kernel:\n  image: k:1\n  modules: [""]\n', 'kernel:\n  image: k:1\n  modules: [1]\n']) {
      expect(() => parseSpec(bad, 'x.yml'), bad).toThrow(DiagnosticsError);
      try {
        parseSpec(bad, 'x.yml');
      } catch (e) {
        expect((e as DiagnosticsError).diagnostics[0]).toMatchObject({ file: 'x.yml', line: 3 });
      }
    }
  });
});

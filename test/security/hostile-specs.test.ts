/**
 * Hostile specs: YAML alias bombs, deep nesting (flow and block), duplicate
 * names and keys, and 600k `files:` entries through the merge — each a
 * FILE:LINE:COL error (or a result) in bounded time, never a crash or an
 * internal error. (`files:` sources outside the spec's folder: see
 * test/unit/build/files.test.ts; a 50 MB spec and 100k entries: bench/spec.ts.)
 */
import { describe, expect, it } from 'vitest';
import { DiagnosticsError } from '../../src/errors.js';
import { mergeSpecs } from '../../src/spec/merge.js';
import { parseSpecs } from '../../src/spec/load.js';
import type { FileEntry, SystemSpec } from '../../src/spec/types.js';

const HEAD = 'kernel:\n  image: k\n  cmdline: x\ninit: [i]\n';

function specError(text: string, file = 'h.yml'): { message: string; ms: number } {
  const t0 = Date.now();
  try {
    parseSpecs([{ file, text }]);
  } catch (e) {
    expect(e).toBeInstanceOf(DiagnosticsError);
    return { message: (e as Error).message, ms: Date.now() - t0 };
  }
  throw new Error('the spec was accepted');
}

describe('hostile specs', () => {
  it('an alias bomb (9^9 nodes) is refused at once', () => {
    let t = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n';
    for (const [i, c] of [...'bcdefghi'].entries()) {
      const prev = 'abcdefghi'[i];
      t += `${c}: &${c} [${Array(9).fill(`*${prev}`).join(',')}]\n`;
    }
    const { message, ms } = specError(t);
    expect(message).toBe('h.yml:1:1: YAML: Excessive alias count indicates a resource exhaustion attack');
    expect(ms).toBeLessThan(5_000);
  });

  it('100k nested flow brackets: refused before parsing, at the 65th bracket', () => {
    const { message, ms } = specError(`${HEAD}services: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
    expect(message).toBe('h.yml:5:75: YAML: collections nested more than 64 levels deep');
    expect(ms).toBeLessThan(5_000);
  });

  it('brackets inside quotes and comments do not count', () => {
    const text = `kernel:\n  image: k\n  cmdline: "${'['.repeat(100)}" # ${'{'.repeat(100)}\ninit: [i]\nfiles:\n  - path: etc/x\n    contents: '${'['.repeat(100)}'\n`;
    expect(parseSpecs([{ file: 'q.yml', text }]).spec.files[0]!.contents).toBe('['.repeat(100));
  });

  it('70 nested block sequences: refused naming the line and column', () => {
    const t = 'init:\n' + Array.from({ length: 70 }, (_, i) => ' '.repeat(i * 2) + '- ').join('\n') + 'x\n';
    expect(specError(t).message).toBe('h.yml:65:127: YAML: collections nested more than 64 levels deep');
  });

  it('5000 nested block sequences: the parser\'s stack overflow is one located error, not a crash', () => {
    const t = 'init:\n' + Array.from({ length: 5000 }, (_, i) => ' '.repeat(i * 2) + '- ').join('\n') + 'x\n';
    const { message, ms } = specError(t);
    expect(message).toMatch(/^h\.yml:\d+:\d+: YAML: collections nested (too deeply|more than 64 levels deep)/);
    expect(ms).toBeLessThan(30_000);
  });

  it('duplicate service names and duplicate keys name both places', () => {
    expect(specError(`${HEAD}services:\n  - name: a\n    image: x\n  - name: a\n    image: y\n`).message).toBe(
      'h.yml:8:11: services[1].name: duplicate service name "a" (first declared at 6:11)',
    );
    expect(specError('kernel:\n  image: k\n  image: j\n').message).toBe('h.yml:3:3: YAML: duplicate key "image"');
  });

  it('long double-quoted scalars (a 10 MB spec) parse quickly to the same values, folding included, positions unchanged', () => {
    const big = 'x'.repeat(1 << 20);
    const folded = `${'y'.repeat(70_000)}\n      z`; // a line break folds to a space in either quoting
    let text = `${HEAD}files:\n`;
    for (let i = 0; i < 10; i++) text += `  - path: etc/f${i}\n    contents: "${big}"\n`;
    text += `  - path: etc/folded\n    contents: "${folded}"\n  - path: etc/esc\n    contents: "${'e'.repeat(70_000)}\\t"\n  - path: etc/bad\n    mode: nope\n`;
    const t0 = Date.now();
    const err = specError(text);
    expect(Date.now() - t0).toBeLessThan(30_000);
    // the error after the long scalars is still located on its own line
    expect(err.message).toMatch(/^h\.yml:31:5: files\[12\]/);
    const ok = parseSpecs([{ file: 'h.yml', text: text.replace(/  - path: etc\/bad\n    mode: nope\n$/, '') }]).spec.files;
    expect(ok[0]!.contents).toBe(big);
    expect(ok[10]!.contents).toBe(`${'y'.repeat(70_000)} z`);
    expect(ok[11]!.contents).toBe(`${'e'.repeat(70_000)}\t`);
  });

  it('600k files: entries merge without overflowing the stack (push(...spread) is gone)', () => {
    const loc = { file: 'big.yml', line: 1, col: 1 };
    const files: FileEntry[] = Array.from({ length: 600_000 }, (_, i) => ({ path: `f/${i}`, contents: 'x', loc }) as FileEntry);
    const part: SystemSpec = { init: [], initLocs: [], onboot: [], onshutdown: [], services: [], files, volumes: [] };
    const merged = mergeSpecs([part, part]);
    expect(merged.files.length).toBe(1_200_000);
    expect(merged.files[599_999]!.path).toBe('f/599999');
  });
});

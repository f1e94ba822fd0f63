import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiagnosticsError } from '../../../src/errors.js';
import { loadDefinition, parseDefinitionText, parseMode } from '../../../src/pkg/definition.js';
import { validateLabel } from '../../../src/pkg/label.js';

function diagnostics(fn: () => unknown): string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof DiagnosticsError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected a DiagnosticsError');
}

describe('build.yml parsing', () => {
  it('reads a full definition', () => {
    const d = parseDefinitionText(
      [
        'debian:',
        '  packages: [runc]',
        'files:',
        '  - path: /etc/x',
        '    contents: hi',
        '    mode: 0600',
        'config:',
        '  entrypoint: [/bin/x]',
        'label:',
        '  net: host',
      ].join('\n'),
      'images/x/build.yml',
      '/abs/images/x',
    );
    expect(d.name).toBe('x');
    expect(d.data.debian?.packages).toEqual(['runc']);
    expect(parseMode(d.data.files![0]!.mode!)).toBe(0o600);
    expect(d.locate(['files', 0, 'contents'])).toEqual({ file: 'images/x/build.yml', line: 5, col: 15 });
  });

  it('names the line and column of unknown keys and wrong types', () => {
    const lines = diagnostics(() =>
      parseDefinitionText(['debian:', '  packages: [runc]', '  bogus: 1', 'files:', '  - path: /a', '    uid: root'].join('\n'), 'b.yml', '/d'),
    );
    expect(lines).toContain('b.yml:3:3: unknown key "bogus"');
    expect(lines.some((l) => l.startsWith('b.yml:6:10: files.0.uid:'))).toBe(true);
  });

  it('rejects relative paths and ambiguous files', () => {
    const lines = diagnostics(() =>
      parseDefinitionText(['files:', '  - path: etc/a', '    contents: x', '    source: y'].join('\n'), 'c.yml', '/d'),
    );
    expect(lines).toContain('c.yml:2:5: a file takes one of source, contents or directory');
    expect(lines).toContain('c.yml:2:11: path "etc/a" must be absolute');
  });

  it('kernel: compressModules takes xz only, with its position when wrong', () => {
    const ok = parseDefinitionText(['debian:', '  packages: [linux-image-cloud-amd64]', 'kernel:', '  compressModules: xz', '  dropModules: [sound]'].join('\n'), 'k.yml', '/d');
    expect(ok.data.kernel).toEqual({ compressModules: 'xz', dropModules: ['sound'] });
    const lines = diagnostics(() => parseDefinitionText(['debian:', '  packages: [linux-image-cloud-amd64]', 'kernel:', '  compressModules: gzip'].join('\n'), 'k.yml', '/d'));
    expect(lines.some((l) => l.startsWith('k.yml:4:20: kernel.compressModules:'))).toBe(true);
  });

  it('reports YAML syntax errors with a position', () => {
    const lines = diagnostics(() => parseDefinitionText('debian:\n  packages: [a\n', 'd.yml', '/d'));
    expect(lines[0]).toMatch(/^d\.yml:\d+:\d+: /);
  });

  it('checks label keys and capability names', () => {
    const d = parseDefinitionText(['build:', '  command: "true"', 'label:', '  capabilities: [NET_ADMIN]', '  netns: host'].join('\n'), 'e.yml', '/d');
    const lines = diagnostics(() => validateLabel(d));
    expect(lines).toContain('e.yml:4:17: label.capabilities: "NET_ADMIN" is not a capability name');
    expect(lines).toContain('e.yml:5:3: label: unknown key "netns"');
  });

  it("applies the spec's label schema too", () => {
    const d = parseDefinitionText(['build:', '  command: "true"', 'label:', '  net: host', '  oomScoreAdj: lots'].join('\n'), 'f.yml', '/d');
    const lines = diagnostics(() => validateLabel(d));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((l) => l.startsWith('f.yml:4:3: label: '))).toBe(true);
    expect(lines.join('\n')).toMatch(/oomScoreAdj/);
  });

  it('loads images/NAME from disk and reports a missing build.yml', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coracle-def-'));
    await mkdir(join(dir, 'thing'));
    await expect(loadDefinition(join(dir, 'thing'))).rejects.toThrow(/thing\/build\.yml:1:1: cannot read: ENOENT/);
    await writeFile(join(dir, 'thing', 'build.yml'), 'name: other\nbuild:\n  command: "true"\n');
    const d = await loadDefinition(join(dir, 'thing'));
    expect(d.name).toBe('other');
    expect(d.dir).toBe(join(dir, 'thing'));
  });
});

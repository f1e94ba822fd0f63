import { describe, expect, it } from 'vitest';
import { CoracleError, DiagnosticsError, formatDiagnostic } from '../../../src/errors.js';
import { loadSpecs, mergeSpecs, parseSpec, parseSpecs } from '../../../src/spec/index.js';

const BASE = 'test/fixtures/specs/valid/base.yml';
const OVERLAY = 'test/fixtures/specs/valid/overlay.yml';

function errorsOf(inputs: { file: string; text: string }[]): string[] {
  try {
    parseSpecs(inputs);
  } catch (e) {
    if (e instanceof DiagnosticsError) return e.diagnostics.map(formatDiagnostic);
    throw e;
  }
  return [];
}

describe('merging several specs (linuxkit build a.yml b.yml)', () => {
  it('overrides kernel fields a later file sets and appends every list in order', async () => {
    const { spec, warnings } = await loadSpecs([BASE, OVERLAY]);
    expect(warnings).toEqual([]);
    expect(spec.kernel).toMatchObject({ image: 'linuxkit/kernel:6.12.59', cmdline: 'console=ttyS0', tar: 'none' });
    // each kernel field remembers the file that set it
    expect(spec.kernel?.fieldLocs?.image).toEqual({ file: OVERLAY, line: 2, col: 3 });
    expect(spec.kernel?.fieldLocs?.cmdline).toEqual({ file: BASE, line: 3, col: 3 });
    expect(spec.init).toEqual([
      'linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a',
      'linuxkit/runc:9442aa234715e751a16144f1d4ae3fd1a00fd492',
      'linuxkit/containerd:ba19f64efd3331a8fd0a33e00eabd14f6ee1780e',
    ]);
    expect(spec.initLocs?.map((l) => `${l.file}:${l.line}`)).toEqual([`${BASE}:5`, `${BASE}:6`, `${OVERLAY}:5`]);
    expect(spec.onboot.map((e) => [e.name, e.loc.file])).toEqual([
      ['sysctl', BASE],
      ['dhcpcd', OVERLAY],
    ]);
    expect(spec.services.map((e) => e.name)).toEqual(['getty', 'app']);
    expect(spec.files.map((f) => f.path)).toEqual(['etc/motd', 'etc/app.conf']);
    expect(spec.volumes.map((v) => v.name)).toEqual(['shared']);
  });

  it('resolves volumes and uid names declared in another file', async () => {
    // alone, the overlay names a volume and a container it does not declare
    await expect(loadSpecs([OVERLAY])).rejects.toThrow(DiagnosticsError);
    const only = errorsOf([{ file: OVERLAY, text: (await import('node:fs')).readFileSync(OVERLAY, 'utf8') }]);
    expect(only).toEqual([
      `${OVERLAY}:12:10: services[0].uid: "getty" is not a number, "root" or the name of a container in onboot, onshutdown or services`,
      `${OVERLAY}:14:9: services[0].binds[0]: bind "shared:/shared": "shared" is neither an absolute path nor a volume declared in "volumes"`,
    ]);
  });

  it('merges kernels field by field; an empty later cmdline does not erase an earlier one (LinuxKit AppendConfig)', () => {
    const a = parseSpec('kernel:\n  image: k:1\n  cmdline: "a"\n  binary: bzImage\n  ucode: u.cpio\n', 'a.yml').spec;
    const b = parseSpec('kernel:\n  cmdline: ""\n  tar: none\n', 'b.yml').spec;
    const c = parseSpec('kernel:\n  image: k:2\n', 'c.yml').spec;
    const m = mergeSpecs([a, b, c]);
    expect(m.kernel).toMatchObject({ image: 'k:2', cmdline: 'a', binary: 'bzImage', tar: 'none', ucode: 'u.cpio' });
    expect(m.kernel?.fieldLocs?.tar?.file).toBe('b.yml');
    expect(m.kernel?.fieldLocs?.image?.file).toBe('c.yml');
    // inputs are not modified
    expect(a.kernel?.image).toBe('k:1');
    expect(mergeSpecs([parseSpec('init: [a:1]\n', 'x.yml').spec]).kernel).toBeUndefined();
  });

  it('reports a service declared in two files at the second, naming the first', () => {
    const svc = 'services:\n  - name: getty\n    image: linuxkit/getty:1\n';
    expect(errorsOf([
      { file: 'a.yml', text: svc },
      { file: 'b.yml', text: `# overlay\n${svc}` },
    ])).toEqual(['b.yml:3:11: services[0].name: duplicate service name "getty" (first declared at a.yml:2:11)']);
  });

  it('reports a read-only volume from one file mounted read-write in another', () => {
    expect(errorsOf([
      { file: 'vol.yml', text: 'volumes:\n  - name: cfg\n    readonly: true\n' },
      { file: 'use.yml', text: 'onboot:\n  - name: t\n    image: alpine:3.20\n    binds: ["cfg:/etc/cfg"]\n' },
    ])).toEqual([
      'use.yml:4:13: onboot[0].binds[0]: bind "cfg:/etc/cfg": volume "cfg" is read-only (declared at vol.yml:2:5) but is mounted read-write at /etc/cfg; add the "ro" option',
    ]);
  });

  it('reports the errors of every file, file by file', () => {
    expect(errorsOf([
      { file: 'one.yml', text: 'services:\n  - name: a\n    image: alpine:3.20\n    pid: hots\n  - image: x\n' },
      { file: 'two.yml', text: 'kernal:\n  image: k\n' },
    ])).toEqual([
      'one.yml:4:10: services[0].pid: invalid pid "hots": expected "host", "root", "new" or an absolute path to a namespace',
      'one.yml:5:5: services[1]: missing required key "name"',
      'two.yml:1:1: unknown section "kernal"; did you mean "kernel"?',
    ]);
  });

  it('says which file it cannot read, and needs at least one', async () => {
    await expect(loadSpecs(['test/fixtures/specs/no-such.yml'])).rejects.toThrow(
      new CoracleError('cannot read spec test/fixtures/specs/no-such.yml: no such file'),
    );
    await expect(loadSpecs(['test/fixtures/specs'])).rejects.toThrow('cannot read spec test/fixtures/specs: is a directory');
    await expect(loadSpecs([])).rejects.toThrow('no spec file given');
  });
});

describe('layers: (devices and setuid/setgid files in image layers)', () => {
  it('each key of a later file wins, with its location; unset keys keep the earlier value', () => {
    const { spec } = parseSpecs([
      { file: 'a.yml', text: 'layers:\n  devices: refuse\n  setuid: keep\n' },
      { file: 'b.yml', text: 'layers:\n  setuid: drop\n' },
    ]);
    expect(spec.layers).toMatchObject({ devices: 'refuse', setuid: 'drop' });
    expect(spec.layers?.locs).toEqual({ devices: { file: 'a.yml', line: 2, col: 12 }, setuid: { file: 'b.yml', line: 2, col: 11 } });
  });

  it('bad values and keys are FILE:LINE:COL errors', () => {
    expect(errorsOf([{ file: 'a.yml', text: 'layers:\n  devices: yes\n  setuid: [drop]\n  nodes: drop\n' }])).toEqual([
      'a.yml:2:12: layers.devices: expected one of "keep", "drop", "refuse", got the string "yes"',
      'a.yml:3:11: layers.setuid: expected one of "keep", "drop", "refuse", got a list',
      'a.yml:4:3: layers: unknown key "nodes"',
    ]);
    expect(errorsOf([{ file: 'a.yml', text: 'layers: drop\n' }])).toEqual(['a.yml:1:9: layers: expected a mapping, got the string "drop"']);
  });
});

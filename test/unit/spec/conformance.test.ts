import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DiagnosticsError, formatDiagnostic } from '../../../src/errors.js';
import { loadSpecs, parseSpec } from '../../../src/spec/index.js';
import { conformanceRoot } from '../../helpers/cli.js';

/**
 * Every *.yml of LinuxKit's examples and tests (../shared/conformance/linuxkit)
 * must validate, except the few that LinuxKit itself refuses. Those must fail
 * with exactly these errors (paths relative to the linuxkit folder).
 */
const root = join(conformanceRoot, 'linuxkit');

const EXPECTED_FAILURES: Record<string, string[]> = {
  // LinuxKit's own test expects `linuxkit build` to fail: a read-only volume bound read-write.
  'test/cases/000_build/070_volumes/002_rw_on_ro/test.yml': [
    'test/cases/000_build/070_volumes/002_rw_on_ro/test.yml:12:9: onboot[0].binds[1]: bind "vola:/vola": volume "vola" is read-only (declared at 18:5) but is mounted read-write at /vola; add the "ro" option',
  ],
  // LinuxKit's test 091_validate_linuxkit_yaml expects the build to fail on this unknown top-level key.
  'test/cases/000_build/091_validate_linuxkit_yaml/linuxkit.yml': [
    'test/cases/000_build/091_validate_linuxkit_yaml/linuxkit.yml:1:1: unknown section "unknownField"; a system spec has kernel, init, onboot, onshutdown, services, files, volumes, trust, runtime, layers',
  ],
  // Not a system spec: the registry configuration the 080_mirrors test mounts into registry:3.
  'test/cases/000_build/080_mirrors/config.yml': [
    'version', 'log', 'storage', 'http', 'health', 'proxy',
  ].map((k, i) => `test/cases/000_build/080_mirrors/config.yml:${[1, 2, 7, 16, 23, 29][i]}:1: unknown section "${k}"; a system spec has kernel, init, onboot, onshutdown, services, files, volumes, trust, runtime, layers`),
  // Not valid YAML: a comment line at column 0 inside a literal block scalar ends it, and the
  // next, indented line is then a stray scalar. go-yaml v3 (LinuxKit's parser) rejects it too:
  // "yaml: line 24: did not find expected key".
  'examples/static-ip.yml': [
    'examples/static-ip.yml:27:1: YAML: All mapping items must start at the same column',
    'examples/static-ip.yml:28:7: YAML: Implicit keys need to be on a single line',
    'examples/static-ip.yml:28:7: YAML: Implicit map keys need to be followed by map values',
  ],
};

function ymlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.yml'))
    .map((d) => relative(root, join(d.parentPath, d.name)))
    .sort();
}

const files = ymlFiles(root);

describe('LinuxKit conformance corpus', () => {
  it('finds the whole corpus: 33 examples, linuxkit.yml and the test specs', () => {
    expect(files.filter((f) => f.startsWith('examples/'))).toHaveLength(33);
    expect(files).toContain('linuxkit.yml');
    expect(files.filter((f) => f.startsWith('test/cases/'))).toHaveLength(147);
    expect(files).toHaveLength(181);
    for (const f of Object.keys(EXPECTED_FAILURES)) expect(files).toContain(f);
  });

  it.each(files.filter((f) => !(f in EXPECTED_FAILURES)))('%s validates', (f) => {
    const text = readFileSync(join(root, f), 'utf8');
    const r = parseSpec(text, f);
    expect(r.warnings.filter((w) => w.severity === 'error')).toEqual([]);
    // nothing dropped on the way: every entry of every section is in the result, in order
    const raw = (parse(text) ?? {}) as Record<string, unknown>;
    const names = (v: unknown) => ((v as { name: string }[] | undefined) ?? []).map((e) => e.name);
    expect(r.spec.init).toEqual(raw.init ?? []);
    for (const section of ['onboot', 'onshutdown', 'services', 'volumes'] as const)
      expect(r.spec[section].map((e) => e.name)).toEqual(names(raw[section]));
    expect(r.spec.files.map((e) => e.path)).toEqual(((raw.files as { path: string }[] | undefined) ?? []).map((e) => e.path));
    expect(r.spec.kernel?.image).toEqual((raw.kernel as { image?: string } | undefined)?.image);
  });

  it.each(Object.entries(EXPECTED_FAILURES))('%s fails as LinuxKit does', (f, expected) => {
    let err: unknown;
    try {
      parseSpec(readFileSync(join(root, f), 'utf8'), f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiagnosticsError);
    expect((err as DiagnosticsError).diagnostics.map(formatDiagnostic)).toEqual(expected);
  });

  it('merges common.yml with each 200_namespace test as `linuxkit build common.yml test.yml` does', async () => {
    const ns = join(root, 'test/cases/020_kernel/200_namespace');
    const tests = ymlFiles(ns).filter((f) => f.endsWith('/test.yml')).map((f) => join(root, f));
    expect(tests.length).toBeGreaterThan(10);
    for (const t of tests) {
      const { spec } = await loadSpecs([join(ns, 'common.yml'), t]);
      expect(spec.kernel?.image).toBe('linuxkit/kernel:6.12.59');
      expect(spec.init).toEqual(expect.arrayContaining(['linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a']));
      expect(spec.onboot.map((e) => e.name)).toContain('poweroff');
      expect(spec.onboot.every((e) => e.loc.file === t)).toBe(true);
    }
  });

  it('merges the two input_tar specs', async () => {
    const dir = join(root, 'test/cases/000_build/060_input_tar/000_build');
    const t1 = join(dir, 'test1.yml');
    const t2 = join(dir, 'test2.yml');
    // both declare the same services: merged, the names collide as in LinuxKit's AppendConfig
    await expect(loadSpecs([t1, t2])).rejects.toThrow(/duplicate service name "getty"/);
    const one = await loadSpecs([t1]);
    expect(one.spec.services.map((s) => s.name)).toEqual(['getty', 'rngd', 'nginx']);
  });
});

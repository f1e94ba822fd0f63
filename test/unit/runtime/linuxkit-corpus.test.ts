/**
 * Every container of LinuxKit's own example and test-case specs (the
 * conformance corpus) gets a config.json that the OCI runtime-spec schema
 * accepts. Images are not available offline, so the image config is a
 * stand-in (Cmd /bin/true) and there is no label: the YAML alone drives it.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadSpecs } from '../../../src/spec/index.js';
import { allocateIds, generateRuntimeConfig, stableJson } from '../../../src/runtime/index.js';
import { conformanceRoot } from '../../helpers/cli.js';
import { runtimeConfigValidator } from './oci-schema.js';

const root = join(conformanceRoot, 'linuxkit');
const EXPECTED_INVALID = 'test/cases/000_build/070_volumes/002_rw_on_ro/test.yml';

function specFiles(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) out.push(...specFiles(p));
    else if (/\.yml$/.test(n) && (dir.includes('examples') || /^test.*\.yml$/.test(n))) out.push(p);
  }
  return out;
}

describe('LinuxKit corpus', () => {
  const files = [...specFiles(join(root, 'examples')), ...specFiles(join(root, 'test'))];
  const validate = runtimeConfigValidator();

  it('has specs to read', () => {
    expect(files.length).toBeGreaterThan(150);
  });

  it('every container of every spec gets a schema-valid config', async () => {
    let containers = 0;
    const problems: string[] = [];
    const unparsed: string[] = [];
    for (const file of files) {
      const rel = relative(root, file);
      if (rel === EXPECTED_INVALID) continue;
      let spec;
      try {
        ({ spec } = await loadSpecs([file]));
      } catch (e) {
        // the spec parser's concern, not the runtime generator's (tested in test/unit/spec)
        unparsed.push(`${rel}: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      const ids = allocateIds(spec);
      for (const [phase, list] of [['onboot', spec.onboot], ['onshutdown', spec.onshutdown], ['services', spec.services]] as const) {
        list.forEach((entry, i) => {
          const dirName = phase === 'services' ? entry.name : `${String(i).padStart(3, '0')}-${entry.name}`;
          try {
            const r = generateRuntimeConfig({ entry, image: { Cmd: ['/bin/true'] }, bundleDir: `/containers/${phase}/${dirName}`, ids });
            const errs = validate(JSON.parse(stableJson(r.config)));
            if (errs.length > 0) problems.push(`${rel} ${entry.name}: ${errs.join('; ')}`);
            expect(r.config.root!.path).toBe(`/containers/${phase}/${dirName}/rootfs`);
            containers++;
          } catch (e) {
            problems.push(`${rel} ${entry.name}: ${(e as Error).message}`);
          }
        });
      }
    }
    expect(problems).toEqual([]);
    expect(unparsed.length, unparsed.join('\n')).toBeLessThan(5);
    expect(containers).toBeGreaterThan(500);
  });
});

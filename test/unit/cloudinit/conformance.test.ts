import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SchemaEvaluator } from '../../../src/cloudinit/jsonschema.js';
import { cloudConfigSchema, knownTopLevelKeys } from '../../../src/cloudinit/schema/index.js';
import { parseUserData } from '../../../src/cloudinit/userdata.js';
import { validateCloudConfig } from '../../../src/cloudinit/validate.js';
import { parseYaml11 } from '../../../src/cloudinit/yaml.js';
import { ajvAccepts, officialSchemaPath } from './ajv-oracle.js';
import { archiveExamples, cloudInitCorpus, validExamples } from './corpus.js';
import { mutate, prng } from './mutate.js';

const examples = validExamples();

describe('cloud-init conformance corpus', () => {
  it('has the whole corpus (128 module examples, 26 cloud-config doc examples)', () => {
    expect(examples.filter((f) => f.includes('module-examples'))).toHaveLength(128);
    expect(examples.filter((f) => f.includes('doc-examples'))).toHaveLength(26);
  });

  it('ships the official schema unchanged', () => {
    const vendored = readFileSync(new URL('../../../src/cloudinit/schema/schema-cloud-config-v1.json', import.meta.url));
    expect(vendored.equals(readFileSync(officialSchemaPath))).toBe(true);
  });

  it('derives the known top-level keys from properties and allOf', () => {
    const keys = knownTopLevelKeys();
    for (const k of ['bootcmd', 'write_files', 'users', 'packages', 'apt', 'snap', 'merge_how', 'launch-index', 'system_info']) {
      expect(keys.has(k), k).toBe(true);
    }
    expect(keys.has('hostnmae')).toBe(false);
  });

  it.each(examples.map((f) => [relative(cloudInitCorpus, f), f]))('%s validates with no errors, as the official schema says', (_name, file) => {
    const text = readFileSync(file, 'utf8');
    const r = validateCloudConfig(text, { file });
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(r.ok).toBe(true);
    // The oracle agrees.
    expect(ajvAccepts(parseYaml11(text).value)).toBe(true);
  });

  it('refuses the jinja-templated examples as user-data, though their YAML validates', () => {
    const templated = examples.filter((f) => readFileSync(f, 'utf8').toLowerCase().startsWith('## template: jinja'));
    expect(templated.map((f) => relative(cloudInitCorpus, f))).toEqual(['module-examples/cc_phone_home/example1.yaml', 'module-examples/cc_phone_home/example2.yaml']);
    for (const f of templated) {
      const r = parseUserData(readFileSync(f), { file: f });
      expect(r.diagnostics.map((d) => [d.severity, d.code])).toEqual([['error', 'not-supported']]);
      expect(r.diagnostics[0]!.detail).toMatch(/Jinja templates .* not supported/);
    }
  });

  it.each(archiveExamples().map((f) => [relative(cloudInitCorpus, f), f]))('%s (archive format) parses as parts with warnings only', (_name, file) => {
    const r = parseUserData(readFileSync(file), { file });
    expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    // Unknown part types (foo/wark) are ignored, as cloud-init ignores them.
    expect(r.diagnostics.some((d) => d.code === 'ignored-part' || d.code === 'not-supported')).toBe(true);
  });

  it('accepts exactly what Ajv on the official schema accepts, over thousands of mutated examples', () => {
    const evaluator = new SchemaEvaluator(cloudConfigSchema);
    const rnd = prng(20260523);
    let rejected = 0;
    const disagreements: string[] = [];
    for (const file of examples) {
      const value = (parseYaml11(readFileSync(file, 'utf8')).value ?? {}) as Record<string, unknown>;
      for (let i = 0; i < 20; i++) {
        const m = mutate(value, rnd);
        const ours = evaluator.validate(m).issues.length === 0;
        const oracle = ajvAccepts(m);
        if (!oracle) rejected++;
        if (ours !== oracle) disagreements.push(`${relative(cloudInitCorpus, file)}: ${JSON.stringify(m).slice(0, 200)} ours=${ours}`);
      }
    }
    // The mutations must actually produce invalid configs for the comparison to mean anything.
    expect(rejected).toBeGreaterThan(examples.length * 5);
    expect(disagreements).toEqual([]);
  });

  it('schema file path is the shared corpus', () => {
    expect(officialSchemaPath).toBe(join(cloudInitCorpus, 'schema-cloud-config-v1.json'));
  });
});

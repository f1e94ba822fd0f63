import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseUserData } from '../../../src/cloudinit/userdata.js';
import { parseYaml11 } from '../../../src/cloudinit/yaml.js';
import { ajvAccepts } from './ajv-oracle.js';
import { expectations, invalidExamples } from './corpus.js';

const files = invalidExamples();

describe('invalid cloud-config corpus', () => {
  it('has at least 30 fixtures', () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  it.each(files.map((f) => [basename(f), f]))('%s is rejected with key path, line:col and message', (name, file) => {
    const text = readFileSync(file, 'utf8');
    const want = expectations(text);
    expect(want.length, 'fixture declares its expected errors').toBeGreaterThan(0);
    const r = parseUserData(text, { file: name });
    expect(r.ok).toBe(false);
    const errors = r.diagnostics.filter((d) => d.severity === 'error').map((d) => ({ path: d.path, line: d.line, col: d.col, message: d.detail }));
    expect(errors).toEqual(want);
    for (const d of r.diagnostics.filter((x) => x.severity === 'error')) {
      expect(d.file).toBe(name);
      expect(d.message).toBe(d.path ? `${d.path}: ${d.detail}` : d.detail);
    }
    // The oracle: Ajv on the official schema rejects it too (or it is not YAML at all).
    const parsed = parseYaml11(text);
    if (parsed.errors.length === 0) expect(ajvAccepts(parsed.value)).toBe(false);
    else expect(r.diagnostics[0]!.code).toBe('yaml-syntax');
  });

  it('unknown top-level keys are errors even for a schema that allows additional properties', async () => {
    const { validateCloudConfig } = await import('../../../src/cloudinit/validate.js');
    const text = '#cloud-config\nhostname: a\nhostnmae: b\n';
    const r = validateCloudConfig(text, { file: 'x' });
    expect(r.diagnostics.filter((d) => d.code === 'unknown-key').map((d) => [d.path, d.line, d.col])).toEqual([['hostnmae', 3, 1]]);
    // Older cloud-init schemas let unknown top-level keys through; ours never does,
    // because the check is made from the list of known keys, not only the schema.
    const { SchemaEvaluator } = await import('../../../src/cloudinit/jsonschema.js');
    const { cloudConfigSchema } = await import('../../../src/cloudinit/schema/index.js');
    const permissive = { ...cloudConfigSchema, additionalProperties: true };
    expect(new SchemaEvaluator(permissive).validate({ hostname: 'a', hostnmae: 'b' }).issues).toEqual([]);
    expect(r.ok).toBe(false);
  });
});

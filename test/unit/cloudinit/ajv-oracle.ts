/**
 * The oracle: the official schema file from the shared corpus, compiled by
 * Ajv (draft-04) with cloud-init's custom keywords registered as annotations.
 * Formats: `date` is checked as cloud-init's Python validator does; `hostname`
 * and `uri` are not checked, as on Debian (jsonschema checks them only with
 * optional packages cloud-init does not depend on).
 */
import Ajv from 'ajv-draft-04';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { conformanceRoot } from '../../helpers/cli.js';

export const officialSchemaPath = join(conformanceRoot, 'cloud-init', 'schema-cloud-config-v1.json');

let validateFn: ((v: unknown) => boolean) & { errors?: unknown } | undefined;

function compile(): (v: unknown) => boolean {
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  for (const kw of ['deprecated', 'deprecated_version', 'deprecated_description', 'changed', 'changed_version', 'changed_description', 'hidden', 'label', 'prefixItems']) {
    ajv.addKeyword({ keyword: kw });
  }
  ajv.addFormat('date', (s: string) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
    if (!m) return false;
    const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    return d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
  });
  ajv.addFormat('hostname', true);
  ajv.addFormat('uri', true);
  return ajv.compile(JSON.parse(readFileSync(officialSchemaPath, 'utf8')));
}

/**
 * Map YAML 1.1 values that JSON has no type for the way cloud-init's Python
 * validator sees them: bytes (`!!binary`) count as strings; a date is no JSON
 * type at all, so it becomes a marker mapping that every `type: string` and
 * `enum` rejects, as jsonschema rejects a datetime.date.
 */
export function toOracleValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
  if (v instanceof Date) return { __yaml_timestamp__: v.toISOString() };
  if (Array.isArray(v)) return v.map(toOracleValue);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toOracleValue(x)]));
  return v;
}

export function ajvAccepts(config: unknown): boolean {
  validateFn ??= compile();
  return validateFn(toOracleValue(config ?? {}));
}

export function ajvErrors(): unknown {
  return validateFn?.errors;
}

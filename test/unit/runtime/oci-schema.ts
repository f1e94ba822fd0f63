/** The OCI runtime-spec config schema from the conformance corpus, compiled with Ajv (draft-04). */
import Ajv04 from 'ajv-draft-04';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { conformanceRoot } from '../../helpers/cli.js';

const BASE = 'https://opencontainers.org/schema/runtime/';

export function runtimeConfigValidator(): (config: unknown) => string[] {
  const dir = join(conformanceRoot, 'oci-runtime-spec');
  // ajv-draft-04 is CommonJS: its class is both module.exports and .default; .default types right under NodeNext.
  const ajv = new Ajv04.default({ strict: false, allErrors: true });
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
    const schema = JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>;
    schema.id = BASE + f;
    ajv.addSchema(schema);
  }
  const validate = ajv.getSchema(BASE + 'config-schema.json');
  if (!validate) throw new Error('config-schema.json did not compile');
  return (config: unknown) => {
    if (validate(config)) return [];
    return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`);
  };
}

/**
 * The official cloud-config schema, as cloud-init ships it
 * (`cloudinit/config/schemas/schema-cloud-config-v1.json`, canonical/cloud-init
 * 26.2-20, commit 04eacd06ee60, used under Apache-2.0). Kept byte-identical to
 * the copy in the shared conformance corpus; a unit test checks that.
 */
import schemaJson from './schema-cloud-config-v1.json' with { type: 'json' };

export const CLOUD_CONFIG_SCHEMA_VERSION = '26.2-20';

export const cloudConfigSchema: Record<string, unknown> = schemaJson as Record<string, unknown>;

/** Every top-level key the schema knows: its `properties` and those of each `allOf` part. */
export function knownTopLevelKeys(schema: Record<string, unknown> = cloudConfigSchema): Set<string> {
  const keys = new Set<string>(Object.keys((schema.properties ?? {}) as object));
  const defs = (schema.$defs ?? {}) as Record<string, Record<string, unknown>>;
  for (const part of (schema.allOf ?? []) as Record<string, unknown>[]) {
    const ref = typeof part.$ref === 'string' ? part.$ref : undefined;
    const target = ref?.startsWith('#/$defs/') ? defs[ref.slice('#/$defs/'.length)] : part;
    for (const k of Object.keys((target?.properties ?? {}) as object)) keys.add(k);
  }
  return keys;
}

/**
 * Merging of several cloud-config parts. Coracle applies cloud-init's
 * default for user-data parts without `merge_how`: parts are taken in order
 * and a later part's top-level key replaces the same key from earlier parts
 * whole (lists are not appended, mappings are not merged key by key).
 * `merge_how` / `merge_type` are not interpreted (the validator warns).
 */
export function mergeCloudConfigs(configs: readonly Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const c of configs) for (const [k, v] of Object.entries(c)) out[k] = v;
  return out;
}

/** Deterministic JSON: object keys sorted at every level, arrays kept in order, undefined dropped. */
export function stableJson(value: unknown, indent = 2): string {
  // 2^64-1 (RLIM_INFINITY) is not exact as a JS number: it would print as
  // 18446744073709552000, which overflows Go's uint64 and makes runc reject
  // the config. Any number that prints so can only have meant 2^64-1.
  return JSON.stringify(sortKeys(value), null, indent).replace(/(?<=[:\[,\s])18446744073709552000(?=[,\s\]}])/g, '18446744073709551615') + '\n';
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

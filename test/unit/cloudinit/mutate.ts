/** Seeded mutations of valid configs, to compare our validator with the oracle on near-miss inputs. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REPLACEMENTS: unknown[] = ['x', '', 0, -1, 420, 1.5, true, false, null, [], ['a'], [1], {}, { a: 1 }, 'yes', 'always', '0644', 'abc:def'];

type Container = Record<string, unknown> | unknown[];

function containers(v: unknown, out: { parent: Container; key: string | number }[] = []): typeof out {
  if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i }); containers(x, out); });
  else if (v && typeof v === 'object' && !(v instanceof Date) && !(v instanceof Uint8Array)) {
    for (const [k, x] of Object.entries(v)) { out.push({ parent: v as Record<string, unknown>, key: k }); containers(x, out); }
  }
  return out;
}

/** One random mutation of a deep copy of `config`. */
export function mutate(config: Record<string, unknown>, rnd: () => number): Record<string, unknown> {
  const copy = structuredClone(config);
  const slots = containers(copy);
  if (slots.length === 0) return { ...copy, [`k${Math.floor(rnd() * 100)}`]: 1 };
  const slot = slots[Math.floor(rnd() * slots.length)]!;
  const op = rnd();
  if (op < 0.6) {
    (slot.parent as Record<string | number, unknown>)[slot.key] = structuredClone(REPLACEMENTS[Math.floor(rnd() * REPLACEMENTS.length)]);
  } else if (op < 0.8) {
    if (Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
    else delete slot.parent[slot.key as string];
  } else if (op < 0.9) {
    if (!Array.isArray(slot.parent)) slot.parent[`${String(slot.key)}_x`] = (slot.parent as Record<string, unknown>)[slot.key as string];
    else slot.parent.push(slot.parent[slot.key as number]);
  } else {
    const v = (slot.parent as Record<string | number, unknown>)[slot.key];
    (slot.parent as Record<string | number, unknown>)[slot.key] = Array.isArray(v) ? (v.length > 0 ? v[0] : null) : [v];
  }
  return copy;
}

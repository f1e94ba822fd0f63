/**
 * Named uids/gids. LinuxKit gives every container an id of its own that
 * `uid:`, `gid:`, `additionalGids:` and `files:` may name: 100, 101, ... in
 * the order onboot, onshutdown, services (a name listed twice keeps the later
 * id). The same spec always yields the same ids, so every container and file
 * agrees on them.
 */
export type IdMap = ReadonlyMap<string, number>;

/** First id handed out. */
export const FIRST_NAMED_ID = 100;

export function allocateIds(spec: {
  onboot?: ReadonlyArray<{ name: string }>;
  onshutdown?: ReadonlyArray<{ name: string }>;
  services?: ReadonlyArray<{ name: string }>;
}): Map<string, number> {
  const ids = new Map<string, number>();
  let next = FIRST_NAMED_ID;
  for (const list of [spec.onboot ?? [], spec.onshutdown ?? [], spec.services ?? []]) {
    for (const c of list) ids.set(c.name, next++);
  }
  return ids;
}

/**
 * A uid/gid as written (number, `root`, empty, a digit string, or a container
 * name) to a number; undefined when a name is unknown.
 */
export function resolveId(v: number | string | undefined | null, ids: IdMap): number | undefined {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : undefined;
  if (v === '' || v === 'root') return 0;
  if (/^\d+$/.test(v)) return Number(v);
  return ids.get(v);
}

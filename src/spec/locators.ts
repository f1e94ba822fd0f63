import type { Locator, Path } from './source.js';
import type { SourceLocation } from './types.js';

/**
 * Precise positions inside entries (e.g. the 2nd bind of a service) without
 * putting YAML documents into the shared types: each parsed entry object is
 * mapped to a locator for paths relative to it (YAML key spellings).
 */
const registry = new WeakMap<object, { loc: Locator; base: Path }>();

/** `base` is the entry's own path in its file, e.g. ['services', 2]. */
export function rememberLocator(entry: object, loc: Locator, base: Path): void {
  registry.set(entry, { loc, base });
}

/** The entry's path in its file (e.g. ['services', 2]), or [] if unknown. */
export function basePathOf(entry: object): Path {
  return registry.get(entry)?.base ?? [];
}

/** Where `path` (relative to `entry`) was written; `fallback` for entries not parsed from YAML here. */
export function locationIn(entry: object, path: Path, fallback: SourceLocation, at: 'value' | 'key' = 'value'): SourceLocation {
  const r = registry.get(entry);
  return r ? r.loc(path, at) : fallback;
}

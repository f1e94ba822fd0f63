import type { z } from 'zod';
import { absolutizePkgRefs } from './pkg-ref.js';
import { DiagnosticsError, type SourceDiagnostic } from '../errors.js';
import * as convert from './convert.js';
import { rememberLocator } from './locators.js';
import { at, closest, describeValue, issuesToDiagnostics } from './messages.js';
import {
  fileSchema,
  imageRefSchema,
  phaseEntrySchema,
  serviceEntrySchema,
  kernelSchema,
  runtimeSchema,
  layersSchema,
  trustSchema,
  volumeSchema,
  type RawFile,
} from './schema.js';
import { locate, locator, parseYaml, type Path, type YamlSource } from './source.js';
import type { SystemSpec } from './types.js';
import { validateSpec } from './validate.js';

export const TOP_LEVEL_KEYS = ['kernel', 'init', 'onboot', 'onshutdown', 'services', 'files', 'volumes', 'trust', 'runtime', 'layers'] as const;

/** One file, parsed and checked on its own (no cross-references yet). */
export interface ParsedFile {
  spec: SystemSpec;
  errors: SourceDiagnostic[];
  warnings: SourceDiagnostic[];
  /** Volumes declared with errors: references to them are not reported again. */
  brokenVolumes: Set<string>;
  /** Containers declared with errors: uid/gid names that refer to them are not reported again. */
  brokenContainers: Set<string>;
}

class Collector {
  errors: SourceDiagnostic[] = [];
  warnings: SourceDiagnostic[] = [];
  constructor(readonly src: YamlSource) {}
  error(path: Path, message: string, where: 'value' | 'key' = 'value'): void {
    const l = locate(this.src, path, where);
    this.errors.push({ file: this.src.file, line: l.line, col: l.col, message: at(path, message), severity: 'error' });
  }
  warn(path: Path, message: string, where: 'value' | 'key' = 'value'): void {
    const l = locate(this.src, path, where);
    this.warnings.push({ file: this.src.file, line: l.line, col: l.col, message: at(path, message), severity: 'warning' });
  }
  /** Validate `value` (found at `path`) with `schema`; undefined and diagnostics when it fails. */
  check<S extends z.ZodType>(schema: S, value: unknown, path: Path): z.infer<S> | undefined {
    const r = schema.safeParse(value);
    if (r.success) return r.data;
    for (const d of issuesToDiagnostics(this.src, value, r.error.issues, schema, path)) this.errors.push(d);
    return undefined;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}

/** Parse one spec file's text; reports every problem it can find in that file alone. */
export function parseSpecFile(text: string, file: string): ParsedFile {
  const src = parseYaml(text, file);
  const empty: SystemSpec = { init: [], initLocs: [], onboot: [], onshutdown: [], services: [], files: [], volumes: [] };
  const yamlErrors = src.diagnostics.filter((d) => d.severity === 'error');
  const yamlWarnings = src.diagnostics.filter((d) => d.severity === 'warning');
  if (yamlErrors.length > 0) return { spec: empty, errors: yamlErrors, warnings: yamlWarnings, brokenVolumes: new Set(), brokenContainers: new Set() };

  const c = new Collector(src);
  for (const d of yamlWarnings) c.warnings.push(d);
  const root = src.value;
  const spec = empty;
  const brokenVolumes = new Set<string>();
  const brokenContainers = new Set<string>();
  if (root === undefined || root === null) return { spec, errors: [], warnings: c.warnings, brokenVolumes, brokenContainers };
  if (!isPlainObject(root)) {
    c.error([], `a system spec is a mapping of sections (${TOP_LEVEL_KEYS.join(', ')}), got ${describeValue(root)}`);
    return { spec, errors: c.errors, warnings: c.warnings, brokenVolumes, brokenContainers };
  }

  for (const key of Object.keys(root)) {
    if ((TOP_LEVEL_KEYS as readonly string[]).includes(key)) continue;
    const guess = closest(key, TOP_LEVEL_KEYS);
    const l = locate(src, [key], 'key');
    const hint = guess ? `did you mean "${guess}"?` : `a system spec has ${TOP_LEVEL_KEYS.join(', ')}`;
    c.errors.push({ file, line: l.line, col: l.col, message: `unknown section "${key}"; ${hint}`, severity: 'error' });
  }

  const list = (key: string): unknown[] => {
    const v = root[key];
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      c.error([key], `expected a list, got ${describeValue(v)}`);
      return [];
    }
    return v;
  };

  if (root.kernel !== undefined) {
    const k = c.check(kernelSchema, root.kernel, ['kernel']);
    if (k) spec.kernel = convert.kernel(k, locator(src, ['kernel']));
  }

  if (root.runtime !== undefined) {
    const r = c.check(runtimeSchema, root.runtime, ['runtime']);
    if (r) {
      spec.runtime = r;
      spec.runtimeLoc = locate(src, ['runtime']);
    }
  }

  if (root.layers !== undefined) {
    const l = c.check(layersSchema, root.layers, ['layers']);
    if (l) {
      const layers: NonNullable<SystemSpec['layers']> = { locs: {} };
      for (const key of ['devices', 'setuid'] as const) {
        if (l[key] === undefined) continue;
        layers[key] = l[key];
        layers.locs![key] = locate(src, ['layers', key]);
      }
      spec.layers = layers;
    }
  }

  list('init').forEach((item, i) => {
    const ref = c.check(imageRefSchema, item, ['init', i]);
    if (ref !== undefined) {
      spec.init.push(ref);
      spec.initLocs!.push(locate(src, ['init', i]));
    }
  });

  for (const section of ['onboot', 'onshutdown', 'services'] as const) {
    list(section).forEach((item, i) => {
      const raw = c.check(section === 'services' ? serviceEntrySchema : phaseEntrySchema, item, [section, i]);
      if (!raw) {
        if (isPlainObject(item) && typeof item.name === 'string') brokenContainers.add(item.name);
        return;
      }
      const loc = locator(src, [section, i]);
      const entry = convert.imageEntry(raw, loc);
      rememberLocator(entry, loc, [section, i]);
      spec[section].push(entry);
    });
  }

  list('files').forEach((item, i) => {
    const path = ['files', i];
    checkFileCombination(c, item, path);
    const raw = c.check(fileSchema, item, path);
    if (!raw) return;
    const entry = convert.file(raw, locate(src, path));
    rememberLocator(entry, locator(src, path), path);
    spec.files.push(entry);
  });

  list('volumes').forEach((item, i) => {
    const raw = c.check(volumeSchema, item, ['volumes', i]);
    if (!raw) {
      if (isPlainObject(item) && typeof item.name === 'string') brokenVolumes.add(item.name);
      return;
    }
    const entry = convert.volume(raw, locate(src, ['volumes', i]));
    rememberLocator(entry, locator(src, ['volumes', i]), ['volumes', i]);
    spec.volumes.push(entry);
  });

  if (root.trust !== undefined) {
    const t = c.check(trustSchema, root.trust, ['trust']);
    if (t) spec.trust = t;
    c.warn(['trust'], 'ignored: Coracle does not use Docker Content Trust; pin images by digest (name@sha256:...) instead', 'key');
  }

  absolutizePkgRefs(spec, file);
  return { spec, errors: c.errors, warnings: c.warnings, brokenVolumes, brokenContainers };
}

/**
 * LinuxKit's rules for a `files` entry, beyond each key's type: what a file
 * gets its contents from, and that the path stays inside the root.
 * Works on the raw item so it runs even when other keys have errors.
 */
function checkFileCombination(c: Collector, item: unknown, path: Path): void {
  if (!isPlainObject(item)) return;
  const f = item as Partial<Record<keyof RawFile, unknown>>;
  // contents: "" is an empty file, so any contents value counts as set
  const has = (k: keyof RawFile) =>
    k === 'contents' ? f.contents !== undefined : f[k] !== undefined && f[k] !== null && f[k] !== false && f[k] !== '';
  if (typeof f.path === 'string' && f.path.split('/').includes('..'))
    c.error([...path, 'path'], `path "${f.path}" must not contain ".." (files are written inside the root filesystem)`);
  const kinds = (['directory', 'symlink', 'metadata'] as const).filter(has);
  if (kinds.length > 1)
    c.error([...path, kinds[1]!], `a file entry cannot be both "${kinds[0]}" and "${kinds[1]}"`, 'key');
  if (kinds.length > 0) {
    for (const k of ['contents', 'source'] as const)
      if (has(k)) c.error([...path, k], `a ${kinds[0]} entry cannot have "${k}"`, 'key');
  } else if (has('contents') && has('source')) {
    c.error([...path, 'source'], '"contents" and "source" cannot both be set', 'key');
  } else if (!has('contents') && !has('source') && typeof f.path === 'string') {
    c.error(path, `file "${f.path}" needs one of "contents", "source", "directory", "symlink" or "metadata"`);
  }
  if (f.optional === true && !has('source')) c.warn([...path, 'optional'], '"optional" has no effect without "source"', 'key');
}

export interface SpecResult {
  spec: SystemSpec;
  warnings: SourceDiagnostic[];
}

function byPosition(a: SourceDiagnostic, b: SourceDiagnostic): number {
  return a.file === b.file ? a.line - b.line || a.col - b.col : 0;
}

/** Sort per file, keeping the order of files. */
export function sortDiagnostics(ds: SourceDiagnostic[]): SourceDiagnostic[] {
  const files = [...new Set(ds.map((d) => d.file))];
  return files.flatMap((f) => ds.filter((d) => d.file === f).sort(byPosition));
}

/**
 * Parse and validate one complete spec. Throws DiagnosticsError listing every
 * error (FILE:LINE:COL: message); warnings (e.g. `trust`) are returned.
 */
export function parseSpec(text: string, file: string): SpecResult {
  const parsed = parseSpecFile(text, file);
  const cross = validateSpec(parsed.spec, { brokenVolumes: parsed.brokenVolumes, brokenContainers: parsed.brokenContainers });
  const errors = sortDiagnostics([...parsed.errors, ...cross.errors]);
  const warnings = sortDiagnostics([...parsed.warnings, ...cross.warnings]);
  if (errors.length > 0) throw new DiagnosticsError(errors);
  return { spec: parsed.spec, warnings };
}

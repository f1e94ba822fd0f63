/**
 * Validation of one cloud-config document against the official schema, with
 * every finding placed at FILE:LINE:COL and named by its key path.
 *
 * - errors: YAML syntax, anything the schema rejects, and any top-level key
 *   cloud-init does not know (also when a schema version would let it pass);
 * - warnings: duplicate keys (the last one wins, as in cloud-init), deprecated
 *   keys, and valid cloud-init keys that Coracle hosts do not apply.
 */
import type { SourceDiagnostic } from '../errors.js';
import { IMPLEMENTED_KEYS, isImplementedKey } from './implemented.js';
import { jsonType, SchemaEvaluator, type PathSegment, type SchemaIssue } from './jsonschema.js';
import { cloudConfigSchema, knownTopLevelKeys } from './schema/index.js';
import { isScalar } from 'yaml';
import { nodeAt, parseYaml11, positionOf, type ParsedYaml, type Position } from './yaml.js';

export type DiagnosticCode =
  | 'yaml-syntax'
  | 'not-a-mapping'
  | 'schema'
  | 'unknown-key'
  | 'duplicate-key'
  | 'deprecated'
  | 'not-implemented'
  | 'not-supported'
  | 'ignored-part'
  | 'mime';

export interface CloudInitDiagnostic extends SourceDiagnostic {
  /** Key path such as `users[0].lock_passwd`; '' when it concerns the whole document. */
  path: string;
  code: DiagnosticCode;
  /** The message without the path prefix (`message` is `path: detail`). */
  detail: string;
}

export interface CloudConfigValidation {
  /** The parsed config (YAML 1.1 values), or null when it could not be parsed as a mapping. */
  config: Record<string, unknown> | null;
  diagnostics: CloudInitDiagnostic[];
  /** True when there is no error (warnings allowed). */
  ok: boolean;
}

export interface SourceLabel {
  /** Name printed in diagnostics. */
  file: string;
  /** Lines to add to positions (the document sits inside a larger file). */
  lineOffset?: number;
}

let evaluator: SchemaEvaluator | undefined;
let topKeys: Set<string> | undefined;
function schemaEvaluator(): SchemaEvaluator {
  evaluator ??= new SchemaEvaluator(cloudConfigSchema);
  return evaluator;
}
function topLevelKeys(): Set<string> {
  topKeys ??= knownTopLevelKeys(cloudConfigSchema);
  return topKeys;
}

/** `users[0].lock_passwd`, `write_files[1]["odd key"]`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export function makeDiagnostic(
  label: SourceLabel,
  pos: Position,
  severity: 'error' | 'warning',
  code: DiagnosticCode,
  path: string,
  detail: string,
): CloudInitDiagnostic {
  return {
    file: label.file,
    line: pos.line + (label.lineOffset ?? 0),
    col: pos.col,
    severity,
    code,
    path,
    detail,
    message: path ? `${path}: ${detail}` : detail,
  };
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

function suggestion(key: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(key.length / 3)) ? ` (did you mean "${best}"?)` : '';
}

/** Validate a cloud-config document's text (YAML, with or without the `#cloud-config` line). */
export function validateCloudConfig(text: string, label: SourceLabel): CloudConfigValidation {
  const parsed = parseYaml11(text);
  const diagnostics: CloudInitDiagnostic[] = [];
  if (parsed.errors.length > 0) {
    for (const e of parsed.errors) diagnostics.push(makeDiagnostic(label, e.pos, 'error', 'yaml-syntax', '', `invalid YAML: ${e.message}`));
    return { config: null, diagnostics, ok: false };
  }
  for (const d of parsed.duplicates) {
    diagnostics.push(
      makeDiagnostic(
        label,
        d.pos,
        'warning',
        'duplicate-key',
        formatPath(d.path),
        `duplicate key: this value replaces the one at line ${d.firstPos.line + (label.lineOffset ?? 0)} (cloud-init keeps the last)`,
      ),
    );
  }
  // An empty document (only comments) is an empty config, as in cloud-init.
  const value = parsed.value === null || parsed.value === undefined ? {} : parsed.value;
  if (jsonType(value) !== 'object') {
    diagnostics.push(
      makeDiagnostic(label, positionOf(parsed, []), 'error', 'not-a-mapping', '', `cloud-config must be a YAML mapping of keys, got ${jsonType(value) === 'array' ? 'a list' : `a ${jsonType(value)}`}`),
    );
    return { config: null, diagnostics, ok: false };
  }
  const config = value as Record<string, unknown>;
  diagnostics.push(...schemaDiagnostics(config, parsed, label));
  diagnostics.sort((a, b) => a.line - b.line || a.col - b.col);
  return { config, diagnostics, ok: !diagnostics.some((d) => d.severity === 'error') };
}

function schemaDiagnostics(config: Record<string, unknown>, parsed: ParsedYaml, label: SourceLabel): CloudInitDiagnostic[] {
  const out: CloudInitDiagnostic[] = [];
  const known = topLevelKeys();
  const { issues, deprecations } = schemaEvaluator().validate(config);
  const seen = new Set<string>();
  const badTop = new Set<string>();
  for (const issue of issues) {
    const top = issue.path.length === 1 && issue.atKey;
    const path = formatPath(issue.path);
    const detail = top
      ? `unknown key: cloud-init has no such config key${suggestion(String(issue.path[0]), known)}`
      : issue.message + (issue.allowed ? suggestion(String(issue.path.at(-1)), issue.allowed) : yaml11Hint(parsed, issue));
    const dedupe = `${path}\0${detail}`;
    if (seen.has(dedupe)) continue;
    seen.add(dedupe);
    if (issue.path.length > 0) badTop.add(String(issue.path[0]));
    out.push(makeDiagnostic(label, positionOf(parsed, issue.path, issue.atKey === true), 'error', top ? 'unknown-key' : 'schema', path, detail));
  }
  // Unknown top-level keys are errors even where a schema allows additional properties.
  for (const key of Object.keys(config)) {
    if (known.has(key) || badTop.has(key)) continue;
    badTop.add(key);
    out.push(
      makeDiagnostic(label, positionOf(parsed, [key], true), 'error', 'unknown-key', formatPath([key]), `unknown key: cloud-init has no such config key${suggestion(key, known)}`),
    );
  }
  const seenDep = new Set<string>();
  for (const d of deprecations) {
    const path = formatPath(d.path);
    if (seenDep.has(path)) continue;
    seenDep.add(path);
    const since = d.version ? ` since cloud-init ${d.version}` : '';
    // The schema's descriptions are reStructuredText: drop the markup.
    const why = d.description ? `: ${d.description.replace(/\*\*([^*]+)\*\*/g, '"$1"').replace(/``([^`]+)``/g, '"$1"')}` : '';
    out.push(makeDiagnostic(label, positionOf(parsed, d.path, true), 'warning', 'deprecated', path, `deprecated${since}${why}`));
  }
  out.push(...notImplemented(config, parsed, label, badTop));
  return out;
}

/**
 * YAML 1.1 turns some unquoted words and numbers into other types than the
 * author meant (`0644` is 420, `yes` is true): say so when that is the cause.
 */
function yaml11Hint(parsed: ParsedYaml, issue: SchemaIssue): string {
  if (issue.keyword !== 'type' && issue.keyword !== 'oneOf' && issue.keyword !== 'anyOf') return '';
  if (!/^expected (?:.*\b)?a string\b/.test(issue.message)) return '';
  const node = nodeAt(parsed.doc, issue.path);
  if (!isScalar(node) || node.type !== 'PLAIN' || typeof node.source !== 'string') return '';
  const src = node.source;
  if (typeof node.value === 'number' && /^[-+]?0[0-7_]+$/.test(src)) {
    return ` (YAML 1.1 reads the unquoted ${src} as the octal number ${node.value}: quote it, '${src}')`;
  }
  if (node.value instanceof Date) return ` (YAML 1.1 reads an unquoted date as a timestamp: quote it, '${src}')`;
  if ((typeof node.value === 'boolean' && !/^(true|false)$/i.test(src)) || (typeof node.value === 'number' && String(node.value) !== src)) return ` (YAML 1.1 reads the unquoted ${src} as ${String(node.value)}: quote it, '${src}')`;
  return '';
}

function notImplemented(config: Record<string, unknown>, parsed: ParsedYaml, label: SourceLabel, skip: Set<string>): CloudInitDiagnostic[] {
  const out: CloudInitDiagnostic[] = [];
  const warn = (path: PathSegment[], detail: string): void => {
    out.push(makeDiagnostic(label, positionOf(parsed, path, true), 'warning', 'not-implemented', formatPath(path), detail));
  };
  for (const [key, value] of Object.entries(config)) {
    if (skip.has(key)) continue;
    if (!isImplementedKey(key)) {
      if (key === 'merge_how' || key === 'merge_type') {
        warn([key], 'valid cloud-init key, but Coracle merges user-data parts only in the default way (later top-level keys replace earlier ones); ignored');
      } else warn([key], 'valid cloud-init key, but Coracle hosts do not implement it; ignored');
      continue;
    }
    const subKeys = IMPLEMENTED_KEYS[key];
    if (subKeys === '*') continue;
    const allowed = new Set<string>(subKeys);
    const checkMapping = (obj: unknown, path: PathSegment[]): void => {
      if (jsonType(obj) !== 'object') return;
      for (const sub of Object.keys(obj as Record<string, unknown>)) {
        if (!allowed.has(sub)) warn([...path, sub], `valid cloud-init key, but Coracle hosts do not implement "${key}.${sub}"; ignored`);
      }
    };
    if (Array.isArray(value)) value.forEach((item, i) => checkMapping(item, [key, i]));
    else if (key !== 'users') checkMapping(value, [key]);
  }
  return out;
}

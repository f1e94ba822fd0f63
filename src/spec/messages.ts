import type { z } from 'zod';
import type { SourceDiagnostic } from '../errors.js';
import { locate, type Path, type YamlSource } from './source.js';

/** `services[2].binds[0]` */
export function formatPath(path: Path): string {
  let out = '';
  for (const step of path) {
    if (typeof step === 'number') out += `[${step}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(step)) out += out === '' ? step : `.${step}`;
    else out += `[${JSON.stringify(step)}]`;
  }
  return out;
}

function valueAt(root: unknown, path: Path): { found: boolean; value: unknown } {
  let v: unknown = root;
  for (const step of path) {
    if (v !== null && typeof v === 'object' && Object.prototype.hasOwnProperty.call(v, step)) v = (v as Record<string | number, unknown>)[step];
    else return { found: false, value: undefined };
  }
  return { found: true, value: v };
}

/** How a YAML value reads to a user: `a list`, `the string "abc"`, `an empty value`. */
export function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string': {
      const s = v.length > 40 ? `${v.slice(0, 37)}...` : v;
      return `the string ${JSON.stringify(s)}`;
    }
    case 'number':
      return `the number ${v}`;
    case 'boolean':
      return `${v}`;
    case 'object':
      return v instanceof Date ? 'a timestamp' : 'a mapping';
    default:
      return typeof v;
  }
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  never: 'nothing',
};

function expectedOf(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'invalid_type') return [EXPECTED[issue.expected] ?? issue.expected];
  if (issue.code === 'invalid_union') return issue.errors.flatMap((errs) => errs.filter((e) => e.path.length === 0).flatMap(expectedOf));
  return [];
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The keys a strict object schema at `path` allows (for "did you mean"). */
function allowedKeys(schema: z.ZodType, path: Path): string[] {
  let s: any = schema;
  for (const step of path) {
    s = unwrap(s);
    const def = s?._zod?.def;
    if (!def) return [];
    if (def.type === 'object') s = def.shape[step];
    else if (def.type === 'array') s = def.element;
    else if (def.type === 'record') s = def.valueType;
    else return [];
  }
  s = unwrap(s);
  const def = s?._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

function unwrap(s: any): any {
  let cur = s;
  for (let i = 0; i < 20; i++) {
    const def = cur?._zod?.def;
    if (!def) return cur;
    if (def.type === 'optional' || def.type === 'nullable' || def.type === 'default') cur = def.innerType;
    else if (def.type === 'pipe') cur = def.in;
    else return cur;
  }
  return cur;
}

/** Prefix a message with where in the spec it applies (`services[1].image: ...`). */
export function at(path: Path, message: string): string {
  const where = formatPath(path);
  return where === '' ? message : `${where}: ${message}`;
}

/**
 * Turn zod issues for the document in `src` (validated at `base` with
 * `schema`) into located diagnostics with messages for people.
 */
export function issuesToDiagnostics(
  src: YamlSource,
  root: unknown,
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  base: Path = [],
): SourceDiagnostic[] {
  const out: SourceDiagnostic[] = [];
  const push = (loc: { line: number; col: number }, message: string) =>
    out.push({ file: src.file, line: loc.line, col: loc.col, message, severity: 'error' });

  for (const issue of issues) {
    const rel = issue.path as (string | number)[];
    const path = [...base, ...rel];
    switch (issue.code) {
      case 'unrecognized_keys': {
        const allowed = allowedKeys(schema, rel);
        for (const key of issue.keys) {
          const guess = closest(key, allowed);
          push(locate(src, [...path, key], 'key'), at(path, `unknown key "${key}"${guess ? `; did you mean "${guess}"?` : ''}`));
        }
        break;
      }
      case 'invalid_type':
      case 'invalid_union': {
        const { found, value } = valueAt(root, rel);
        const last = path[path.length - 1];
        if (!found && typeof last === 'string') {
          push(locate(src, path.slice(0, -1)), at(path.slice(0, -1), `missing required key "${last}"`));
          break;
        }
        const expected = [...new Set(expectedOf(issue))];
        const want = expected.length ? expected.join(' or ') : 'a different value';
        push(locate(src, path), at(path, `expected ${want}, got ${describeValue(value)}`));
        break;
      }
      case 'invalid_value': {
        const { value } = valueAt(root, rel);
        const options = issue.values.map((v) => JSON.stringify(v)).join(', ');
        push(locate(src, path), at(path, `expected one of ${options}, got ${describeValue(value)}`));
        break;
      }
      case 'too_small':
      case 'too_big': {
        const { value } = valueAt(root, rel);
        if (typeof value === 'string' && issue.code === 'too_small') push(locate(src, path), at(path, 'must not be empty'));
        else {
          const bound = issue.code === 'too_small' ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
          push(locate(src, path), at(path, `must be ${bound}, got ${describeValue(value)}`));
        }
        break;
      }
      default:
        push(locate(src, path), at(path, issue.message));
    }
  }
  return out;
}

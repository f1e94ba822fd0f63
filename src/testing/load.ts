/**
 * Read a `coracle test` file: a YAML list of steps, or a mapping with
 * `steps:` and what to boot with (`publish`, `disks`, `user-data`, `mem`,
 * `timeout`). Every problem is reported as FILE:LINE:COL, all at once.
 */
import { readFile } from 'node:fs/promises';
import { CoracleError, DiagnosticsError, type SourceDiagnostic } from '../errors.js';
import { closest, describeValue } from '../spec/messages.js';
import { locate, parseYaml, type Path, type YamlSource } from '../spec/source.js';
import type { SourceLocation } from '../spec/types.js';
import { parseDuration } from './duration.js';
import { STEP_KINDS, type Step, type StepBody, type TestFile } from './types.js';

/** Default wait of a console, http or exec step. */
export const DEFAULT_TIMEOUTS = { console: 300_000, http: 60_000, exec: 120_000, local: 120_000, poweroff: 120_000 } as const;

const TOP_KEYS = ['steps', 'publish', 'disks', 'user-data', 'mem', 'timeout'];
const FIELDS: Record<StepBody['kind'], string[]> = {
  console: ['match', 'timeout'],
  http: ['port', 'path', 'status', 'body', 'timeout'],
  exec: ['service', 'host', 'run', 'expect', 'match', 'status', 'timeout'],
  local: ['run', 'expect', 'match', 'status', 'timeout'],
  poweroff: ['within'],
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

export async function loadTestFile(file: string): Promise<TestFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CoracleError(`cannot read test file ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message}`);
  }
  return parseTestFile(text, file);
}

export function parseTestFile(text: string, file: string): TestFile {
  const src = parseYaml(text, file);
  const errors: SourceDiagnostic[] = src.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new DiagnosticsError(errors);
  const at = (path: Path, key: 'value' | 'key' = 'value') => locate(src, path, key);
  const err = (loc: SourceLocation, message: string) => errors.push({ ...loc, message, severity: 'error' });

  const root = src.value;
  let stepsPath: Path;
  let top: Obj = {};
  if (Array.isArray(root)) stepsPath = [];
  else if (isObj(root)) {
    top = root;
    stepsPath = ['steps'];
    for (const k of Object.keys(root)) {
      if (!TOP_KEYS.includes(k)) {
        const hint = closest(k, TOP_KEYS);
        err(at([k], 'key'), `unknown key "${k}"${hint ? ` (did you mean "${hint}"?)` : ''}; a test file has ${TOP_KEYS.join(', ')}`);
      }
    }
  } else {
    err({ file, line: 1, col: 1 }, `a test file is a list of steps, or a mapping with "steps:"; got ${describeValue(root)}`);
    throw new DiagnosticsError(errors);
  }
  const stepList = stepsPath.length ? top.steps : root;
  if (!Array.isArray(stepList) || stepList.length === 0) {
    err(stepsPath.length ? at(stepsPath, 'key') : { file, line: 1, col: 1 }, `"steps" must be a non-empty list of steps (${STEP_KINDS.join(', ')})`);
  }

  const strings = (key: string): string[] => {
    const v = top[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    return list.flatMap((item, i) => {
      if (typeof item === 'string' || typeof item === 'number') return [String(item)];
      err(at(Array.isArray(v) ? [key, i] : [key]), `${key}: expected a string, got ${describeValue(item)}`);
      return [];
    });
  };
  const publish = strings('publish');
  const disks = strings('disks');
  let userData: string | undefined;
  if (top['user-data'] !== undefined) {
    if (typeof top['user-data'] === 'string') userData = top['user-data'];
    else err(at(['user-data']), `user-data: expected a file path, got ${describeValue(top['user-data'])}`);
  }
  let mem: number | undefined;
  if (top.mem !== undefined) {
    if (typeof top.mem === 'number' && Number.isInteger(top.mem) && top.mem >= 64) mem = top.mem;
    else err(at(['mem']), `mem: expected MiB (a whole number >= 64), got ${describeValue(top.mem)}`);
  }
  let defaultTimeout: number | undefined;
  if (top.timeout !== undefined) {
    defaultTimeout = parseDuration(top.timeout);
    if (defaultTimeout === undefined) err(at(['timeout']), `timeout: expected a duration such as 90s or 2m, got ${describeValue(top.timeout)}`);
  }

  const steps: Step[] = [];
  if (Array.isArray(stepList)) {
    stepList.forEach((raw, i) => {
      const step = parseStep(src, [...stepsPath, i], i + 1, raw, defaultTimeout, err);
      if (step) steps.push(step);
    });
  }
  if (errors.length > 0) throw new DiagnosticsError(errors);
  return { file, publish, disks, ...(userData !== undefined ? { userData } : {}), ...(mem !== undefined ? { mem } : {}), steps };
}

function parseStep(
  src: YamlSource,
  path: Path,
  index: number,
  raw: unknown,
  defaultTimeout: number | undefined,
  err: (loc: SourceLocation, message: string) => void,
): Step | undefined {
  const here = locate(src, path);
  const name = `step ${index}`;
  if (!isObj(raw) || Object.keys(raw).length !== 1) {
    err(here, `${name}: expected one of ${STEP_KINDS.map((k) => `"${k}:"`).join(', ')} (a mapping with one key), got ${isObj(raw) ? `keys ${Object.keys(raw).join(', ')}` : describeValue(raw)}`);
    return undefined;
  }
  const kind = Object.keys(raw)[0]!;
  if (!(STEP_KINDS as readonly string[]).includes(kind)) {
    const hint = closest(kind, STEP_KINDS);
    err(locate(src, [...path, kind], 'key'), `${name}: unknown step "${kind}"${hint ? ` (did you mean "${hint}"?)` : ''}; steps are ${STEP_KINDS.join(', ')}`);
    return undefined;
  }
  const k = kind as StepBody['kind'];
  const bodyPath = [...path, k];
  let body: unknown = raw[k];
  // short forms: `console: REGEX` or `console: [REGEX, ...]`, `poweroff:` / `poweroff: 60s`
  if (k === 'console' && (typeof body === 'string' || Array.isArray(body))) body = { match: body };
  if (k === 'poweroff' && (body === null || typeof body === 'string' || typeof body === 'number')) body = body === null ? {} : { within: body };
  const what = `${name} (${k})`;
  if (!isObj(body)) {
    err(locate(src, bodyPath), `${what}: expected a mapping of ${FIELDS[k].join(', ')}, got ${describeValue(body)}`);
    return undefined;
  }
  const b = body;
  const fieldAt: Record<string, SourceLocation> = {};
  let ok = true;
  const fail = (field: string, message: string) => {
    ok = false;
    err(fieldAt[field] ?? locate(src, [...bodyPath, field]), `${what}: ${message}`);
  };
  for (const f of Object.keys(b)) {
    fieldAt[f] = isObj(raw[k]) ? locate(src, [...bodyPath, f]) : locate(src, bodyPath);
    if (!FIELDS[k].includes(f)) {
      const hint = closest(f, FIELDS[k]);
      ok = false;
      err(locate(src, [...bodyPath, f], 'key'), `${what}: unknown field "${f}"${hint ? ` (did you mean "${hint}"?)` : ''}; ${k} takes ${FIELDS[k].join(', ')}`);
    }
  }
  const str = (f: string, required: boolean): string | undefined => {
    const v = b[f];
    if (v === undefined || v === null) {
      if (required) fail(f, `"${f}" is required`);
      return undefined;
    }
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && f !== 'service') return String(v);
    fail(f, `${f}: expected a string, got ${describeValue(v)}`);
    return undefined;
  };
  /** Where item i of a list field was written (`console: [a, b]` is the short form of `match:`). */
  const itemAt = (f: string, i: number): SourceLocation => {
    if (!Array.isArray(b[f])) return fieldAt[f] ?? locate(src, [...bodyPath, f]);
    return locate(src, isObj(raw[k]) ? [...bodyPath, f, i] : [...bodyPath, i]);
  };
  /** One string or a list of them (numbers read as written): `expect: x` or `expect: [x, y]`. */
  const strList = (f: string, required: boolean): string[] | undefined => {
    const v = b[f];
    if (v === undefined || v === null) {
      if (required) fail(f, `"${f}" is required`);
      return required ? undefined : [];
    }
    const list = Array.isArray(v) ? v : [v];
    if (list.length === 0) {
      fail(f, `${f}: expected a string or a non-empty list of strings, got an empty list`);
      return undefined;
    }
    const out: string[] = [];
    let good = true;
    list.forEach((item, i) => {
      if (typeof item === 'string' || typeof item === 'number') out.push(String(item));
      else {
        good = false;
        ok = false;
        err(itemAt(f, i), `${what}: ${f}: expected a string, got ${describeValue(item)}`);
      }
    });
    return good ? out : undefined;
  };
  /** Regular expressions (multiline), each reported at its own position when it does not compile. */
  const regexList = (f: string, required: boolean): RegExp[] | undefined => {
    const list = strList(f, required);
    if (!list) return undefined;
    const out: RegExp[] = [];
    list.forEach((m, i) => {
      try {
        out.push(new RegExp(m, 'm'));
      } catch (e) {
        ok = false;
        err(itemAt(f, i), `${what}: not a regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`);
      }
    });
    return out.length === list.length ? out : undefined;
  };
  const int = (f: string, dflt: number | undefined, min: number, max: number): number | undefined => {
    const v = b[f];
    if (v === undefined || v === null) {
      if (dflt === undefined) fail(f, `"${f}" is required`);
      return dflt;
    }
    if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v;
    fail(f, `${f}: expected a whole number ${min}-${max}, got ${describeValue(v)}`);
    return undefined;
  };
  const duration = (f: string, dflt: number): number => {
    const v = b[f];
    if (v === undefined || v === null) return dflt;
    const ms = parseDuration(v);
    if (ms === undefined || ms <= 0) {
      fail(f, `${f}: expected a duration such as 90s, 2m or 500ms, got ${describeValue(v)}`);
      return dflt;
    }
    return ms;
  };

  let step: StepBody | undefined;
  let label = k as string;
  switch (k) {
    case 'console': {
      const match = regexList('match', true);
      const timeoutMs = duration('timeout', defaultTimeout ?? DEFAULT_TIMEOUTS.console);
      if (match) step = { kind: 'console', match, timeoutMs };
      label = `console ${match ? match.map((re) => `/${re.source}/`).join(' ') : ''}`;
      break;
    }
    case 'http': {
      const port = int('port', undefined, 1, 65535);
      const path = str('path', false) ?? '/';
      if (!path.startsWith('/')) fail('path', `path: must start with "/", got ${JSON.stringify(path)}`);
      const status = int('status', 200, 100, 599);
      const body = str('body', false);
      const timeoutMs = duration('timeout', defaultTimeout ?? DEFAULT_TIMEOUTS.http);
      if (port !== undefined && status !== undefined) step = { kind: 'http', port, path, status, ...(body !== undefined ? { body } : {}), timeoutMs };
      label = `http :${port ?? '?'}${path} -> ${status ?? '?'}`;
      break;
    }
    case 'exec':
    case 'local': {
      // exec runs in a service's container, or with `host: true` on the host itself
      const host = k === 'exec' ? b.host : undefined;
      if (host !== undefined && host !== null && typeof host !== 'boolean') fail('host', `host: expected true or false, got ${describeValue(host)}`);
      const onHost = host === true;
      if (onHost && b.service !== undefined && b.service !== null) fail('service', '"service" and "host: true" exclude each other: a command runs in a container or on the host');
      const service = k === 'exec' && !onHost ? str('service', true) : undefined;
      const run = str('run', true);
      const expect = strList('expect', false);
      const match = regexList('match', false);
      const status = int('status', 0, 0, 255);
      const timeoutMs = duration('timeout', defaultTimeout ?? DEFAULT_TIMEOUTS[k]);
      if (run !== undefined && status !== undefined && expect && match) {
        if (k === 'local') step = { kind: 'local', run, expect, match, status, timeoutMs };
        else if (onHost) step = { kind: 'exec', run, expect, match, status, timeoutMs };
        else if (service !== undefined) step = { kind: 'exec', service, run, expect, match, status, timeoutMs };
      }
      label = k === 'exec' ? `exec ${onHost ? 'host' : (service ?? '?')}: ${run ?? ''}` : `local: ${run ?? ''}`;
      break;
    }
    case 'poweroff': {
      const withinMs = duration('within', DEFAULT_TIMEOUTS.poweroff);
      step = { kind: 'poweroff', withinMs };
      label = `poweroff within ${withinMs / 1000} s`;
      break;
    }
  }
  if (!ok || !step) return undefined;
  return { ...step, index, at: locate(src, [...path, k], 'key'), fieldAt, label: (label = label.trim().replace(/\s*\n\s*/g, '; ')).length > 70 ? `${label.slice(0, 67)}...` : label };
}

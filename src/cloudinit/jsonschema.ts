/**
 * A small JSON Schema (draft-04) evaluator for cloud-init's cloud-config
 * schema. It is our own engine rather than Ajv so that each failure keeps the
 * instance path and the branch of a oneOf/anyOf it came from: that is what
 * lets us name the one key that is wrong (`users[0].lock_passwd`) instead of
 * "not valid under any of the given schemas". Tests hold it against Ajv on the
 * official schema file, which is the oracle for what is accepted.
 *
 * Semantics follow draft-04 as cloud-init's Python validator applies it:
 * keywords from later drafts (`prefixItems`) and cloud-init's own annotations
 * (`deprecated`, `changed`, `hidden`, `label`) do not constrain; `format` is
 * checked for `date` only (jsonschema checks `hostname` and `uri` only when
 * optional Python packages are present, which Debian's cloud-init lacks).
 */

export type JsonSchema = Record<string, unknown> | boolean;
export type PathSegment = string | number;

export interface SchemaIssue {
  /** Where in the instance: keys and list indexes from the document root. */
  path: PathSegment[];
  message: string;
  /** The keyword that failed (`type`, `required`, `additionalProperties` ...). */
  keyword: string;
  /** True when the issue is about a key itself (unknown key), not its value. */
  atKey?: boolean;
  /** For an unknown key: the keys that are allowed there. */
  allowed?: string[];
}

export interface Deprecation {
  path: PathSegment[];
  version?: string;
  description?: string;
}

interface Result {
  issues: SchemaIssue[];
  deprecations: Deprecation[];
}

const OK: Result = Object.freeze({ issues: [], deprecations: [] }) as Result;

/** JSON type name of a value as draft-04 sees it ("integer" is a refinement of "number"). */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (v instanceof Date) return 'timestamp';
  if (v instanceof Uint8Array) return 'binary';
  if (v instanceof Set || v instanceof Map) return 'set';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return jsonType(v) === 'object';
}

function typeMatches(v: unknown, t: string): boolean {
  const actual = jsonType(v);
  // cloud-init's validator counts bytes (YAML `!!binary`) as strings.
  if (t === 'string' && actual === 'binary') return true;
  if (t === 'number') return actual === 'number' || actual === 'integer';
  return actual === t;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** A short rendering of a value for messages. */
export function show(v: unknown): string {
  const t = jsonType(v);
  if (t === 'timestamp') {
    const iso = (v as Date).toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  if (t === 'object' || t === 'array') {
    const s = JSON.stringify(v);
    return s.length > 40 ? `${t === 'array' ? 'a list' : 'a mapping'}` : s;
  }
  if (t === 'string') {
    const s = JSON.stringify(v);
    return s.length > 60 ? `${s.slice(0, 57)}..."` : s;
  }
  return String(v);
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'a boolean',
  null: 'null',
  timestamp: 'a timestamp',
  binary: 'binary data',
  set: 'a set',
};

function typeWord(t: string): string {
  return TYPE_WORDS[t] ?? t;
}

export function joinOr(words: string[]): string {
  const u = [...new Set(words)];
  if (u.length <= 1) return u[0] ?? '';
  return `${u.slice(0, -1).join(', ')} or ${u[u.length - 1]}`;
}

function checkDate(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return false;
  const days = new Date(Date.UTC(y, mo, 0)).getUTCDate();
  return d <= days;
}

export class SchemaEvaluator {
  private readonly regexCache = new Map<string, RegExp>();

  constructor(private readonly root: Record<string, unknown>) {}

  /** Validate a value against the root schema (or a sub-schema of it). */
  validate(value: unknown, schema: JsonSchema = this.root): { issues: SchemaIssue[]; deprecations: Deprecation[] } {
    const r = this.evaluate(schema, value, []);
    return { issues: r.issues, deprecations: r.deprecations };
  }

  /** Resolve a local `$ref` such as `#/$defs/cc_ntp`. */
  resolveRef(ref: string): JsonSchema {
    if (!ref.startsWith('#')) throw new Error(`unsupported $ref ${ref}`);
    let node: unknown = this.root;
    const pointer = decodeURIComponent(ref.slice(1));
    if (pointer === '' || pointer === '/') return this.root;
    for (const raw of pointer.split('/').slice(1)) {
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (node === null || typeof node !== 'object' || !Object.hasOwn(node, seg)) {
        throw new Error(`$ref ${ref} does not resolve`);
      }
      node = (node as Record<string, unknown>)[seg];
    }
    return node as JsonSchema;
  }

  private regex(pattern: string): RegExp {
    let re = this.regexCache.get(pattern);
    if (!re) {
      re = new RegExp(pattern, 'u');
      this.regexCache.set(pattern, re);
    }
    return re;
  }

  private evaluate(schema: JsonSchema, v: unknown, path: PathSegment[]): Result {
    if (schema === true) return OK;
    if (schema === false) return { issues: [{ path, keyword: 'false', message: 'is not allowed here' }], deprecations: [] };
    const s = schema;
    const issues: SchemaIssue[] = [];
    const deprecations: Deprecation[] = [];
    const add = (r: Result): void => {
      issues.push(...r.issues);
      deprecations.push(...r.deprecations);
    };
    const fail = (keyword: string, message: string, extra: Partial<SchemaIssue> = {}): void => {
      issues.push({ path, keyword, message, ...extra });
    };

    if (s.type !== undefined) {
      const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
      if (!types.some((t) => typeMatches(v, t))) {
        // Nothing else is meaningful for a value of the wrong type.
        return {
          issues: [
            {
              path,
              keyword: 'type',
              message: `expected ${joinOr(types.map(typeWord))}, got ${typeWord(jsonType(v))}${
                ['object', 'array'].includes(jsonType(v)) ? '' : ` ${show(v)}`
              }`,
            },
          ],
          deprecations: [],
        };
      }
    }

    if (Array.isArray(s.enum) && !s.enum.some((e) => deepEqual(e, v))) {
      fail('enum', `must be one of ${s.enum.map((e) => show(e)).join(', ')}; got ${show(v)}`);
    }

    const t = jsonType(v);
    if (t === 'string') this.stringKeywords(s, v as string, fail);
    if (t === 'number' || t === 'integer') this.numberKeywords(s, v as number, fail);
    if (t === 'array') add(this.arrayKeywords(s, v as unknown[], path, fail));
    if (t === 'object') add(this.objectKeywords(s, v as Record<string, unknown>, path, fail));

    // Plain draft-04 lets $ref hide its siblings; cloud-init's validator (and
    // Ajv 8) apply both, and the schema relies on it (`groups`: type + $ref).
    if (typeof s.$ref === 'string') add(this.evaluate(this.resolveRef(s.$ref), v, path));
    if (Array.isArray(s.allOf)) for (const sub of s.allOf as JsonSchema[]) add(this.evaluate(sub, v, path));
    if (Array.isArray(s.anyOf)) add(this.branches('anyOf', s.anyOf as JsonSchema[], v, path));
    if (Array.isArray(s.oneOf)) add(this.branches('oneOf', s.oneOf as JsonSchema[], v, path));
    if (s.not !== undefined) {
      const r = this.evaluate(s.not as JsonSchema, v, path);
      if (r.issues.length === 0) fail('not', describeNot(s.not as JsonSchema));
    }

    if (issues.length === 0 && s.deprecated === true) {
      deprecations.push({
        path,
        version: typeof s.deprecated_version === 'string' ? s.deprecated_version : undefined,
        description: typeof s.deprecated_description === 'string' ? s.deprecated_description : undefined,
      });
    }
    return issues.length === 0 ? { issues: [], deprecations } : { issues, deprecations: [] };
  }

  private stringKeywords(s: Record<string, unknown>, v: string, fail: (k: string, m: string) => void): void {
    const len = [...v].length;
    if (typeof s.minLength === 'number' && len < s.minLength) fail('minLength', `must be at least ${s.minLength} characters long`);
    if (typeof s.maxLength === 'number' && len > s.maxLength) fail('maxLength', `must be at most ${s.maxLength} characters long`);
    if (typeof s.pattern === 'string' && !this.regex(s.pattern).test(v)) {
      fail('pattern', `${show(v)} does not match the pattern ${s.pattern}`);
    }
    if (s.format === 'date' && !checkDate(v)) fail('format', `${show(v)} is not a date (YYYY-MM-DD)`);
  }

  private numberKeywords(s: Record<string, unknown>, v: number, fail: (k: string, m: string) => void): void {
    if (typeof s.minimum === 'number') {
      if (s.exclusiveMinimum === true ? v <= s.minimum : v < s.minimum) {
        fail('minimum', `must be ${s.exclusiveMinimum === true ? '>' : '>='} ${s.minimum}; got ${v}`);
      }
    }
    if (typeof s.maximum === 'number') {
      if (s.exclusiveMaximum === true ? v >= s.maximum : v > s.maximum) {
        fail('maximum', `must be ${s.exclusiveMaximum === true ? '<' : '<='} ${s.maximum}; got ${v}`);
      }
    }
    if (typeof s.multipleOf === 'number' && !Number.isInteger(v / s.multipleOf)) {
      fail('multipleOf', `must be a multiple of ${s.multipleOf}`);
    }
  }

  private arrayKeywords(
    s: Record<string, unknown>,
    v: unknown[],
    path: PathSegment[],
    fail: (k: string, m: string, extra?: Partial<SchemaIssue>) => void,
  ): Result {
    const issues: SchemaIssue[] = [];
    const deprecations: Deprecation[] = [];
    if (typeof s.minItems === 'number' && v.length < s.minItems) {
      fail('minItems', s.minItems === 1 ? 'must not be an empty list' : `must have at least ${s.minItems} items`);
    }
    if (typeof s.maxItems === 'number' && v.length > s.maxItems) fail('maxItems', `must have at most ${s.maxItems} items`);
    if (s.uniqueItems === true) {
      outer: for (let i = 0; i < v.length; i++) {
        for (let j = 0; j < i; j++) {
          if (deepEqual(v[i], v[j])) {
            issues.push({ path: [...path, i], keyword: 'uniqueItems', message: `repeats item ${j}: items must be unique` });
            break outer;
          }
        }
      }
    }
    const addR = (r: Result): void => {
      issues.push(...r.issues);
      deprecations.push(...r.deprecations);
    };
    if (Array.isArray(s.items)) {
      const tuple = s.items as JsonSchema[];
      v.forEach((item, i) => {
        if (i < tuple.length) addR(this.evaluate(tuple[i]!, item, [...path, i]));
        else if (s.additionalItems === false) {
          if (i === tuple.length) issues.push({ path: [...path, i], keyword: 'additionalItems', message: `too many items: at most ${tuple.length} allowed` });
        } else if (s.additionalItems !== undefined && s.additionalItems !== true) {
          addR(this.evaluate(s.additionalItems as JsonSchema, item, [...path, i]));
        }
      });
    } else if (s.items !== undefined) {
      v.forEach((item, i) => addR(this.evaluate(s.items as JsonSchema, item, [...path, i])));
    }
    return { issues, deprecations };
  }

  private objectKeywords(
    s: Record<string, unknown>,
    v: Record<string, unknown>,
    path: PathSegment[],
    fail: (k: string, m: string, extra?: Partial<SchemaIssue>) => void,
  ): Result {
    const issues: SchemaIssue[] = [];
    const deprecations: Deprecation[] = [];
    const addR = (r: Result): void => {
      issues.push(...r.issues);
      deprecations.push(...r.deprecations);
    };
    const keys = Object.keys(v);
    if (Array.isArray(s.required)) {
      for (const k of s.required as string[]) if (!Object.hasOwn(v, k)) fail('required', `missing required key "${k}"`);
    }
    if (typeof s.minProperties === 'number' && keys.length < s.minProperties) {
      fail('minProperties', s.minProperties === 1 ? 'must not be an empty mapping' : `must have at least ${s.minProperties} keys`);
    }
    if (typeof s.maxProperties === 'number' && keys.length > s.maxProperties) fail('maxProperties', `must have at most ${s.maxProperties} keys`);
    if (s.dependencies && typeof s.dependencies === 'object') {
      for (const [k, dep] of Object.entries(s.dependencies as Record<string, unknown>)) {
        if (!Object.hasOwn(v, k)) continue;
        if (Array.isArray(dep)) {
          for (const d of dep as string[]) if (!Object.hasOwn(v, d)) fail('dependencies', `key "${k}" requires key "${d}"`);
        } else addR(this.evaluate(dep as JsonSchema, v, path));
      }
    }
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    const patterns = Object.entries((s.patternProperties ?? {}) as Record<string, JsonSchema>);
    for (const k of keys) {
      let matched = false;
      if (Object.hasOwn(props, k)) {
        matched = true;
        addR(this.evaluate(props[k]!, v[k], [...path, k]));
      }
      for (const [p, sub] of patterns) {
        if (this.regex(p).test(k)) {
          matched = true;
          addR(this.evaluate(sub, v[k], [...path, k]));
        }
      }
      if (!matched && s.additionalProperties !== undefined && s.additionalProperties !== true) {
        if (s.additionalProperties === false) {
          issues.push({ path: [...path, k], keyword: 'additionalProperties', message: `unknown key "${k}"`, atKey: true, allowed: Object.keys(props) });
        } else addR(this.evaluate(s.additionalProperties as JsonSchema, v[k], [...path, k]));
      }
    }
    return { issues, deprecations };
  }

  /**
   * anyOf / oneOf. When no branch fits, report the branch that came closest:
   * one whose type fits and that failed deepest in the value, so the message
   * names the wrong key. When no branch's type fits, say which types would.
   */
  private branches(keyword: 'anyOf' | 'oneOf', subs: JsonSchema[], v: unknown, path: PathSegment[]): Result {
    const results = subs.map((sub) => this.evaluate(sub, v, path));
    const passing = results.filter((r) => r.issues.length === 0);
    if (keyword === 'oneOf' && passing.length > 1) {
      return { issues: [{ path, keyword, message: `matches ${passing.length} of the allowed forms; exactly one must match` }], deprecations: [] };
    }
    if (passing.length > 0) return { issues: [], deprecations: passing.flatMap((r) => r.deprecations) };

    const score = (r: Result): [number, number, number] => {
      const shallowType = r.issues.some((i) => (i.keyword === 'type' || i.keyword === 'enum' || i.keyword === 'false') && i.path.length === path.length);
      const depth = Math.max(...r.issues.map((i) => i.path.length));
      return [shallowType ? 0 : 1, depth, -r.issues.length];
    };
    const better = (a: [number, number, number], b: [number, number, number]): boolean =>
      a[0] !== b[0] ? a[0] > b[0] : a[1] !== b[1] ? a[1] > b[1] : a[2] > b[2];
    let best = 0;
    let bestScore = score(results[0]!);
    for (let i = 1; i < results.length; i++) {
      const sc = score(results[i]!);
      if (better(sc, bestScore)) {
        best = i;
        bestScore = sc;
      }
    }
    const typeMatched = results.filter((r) => score(r)[0] === 1).length;
    const scalar = !['object', 'array'].includes(jsonType(v));
    // A mapping or list that fits one form: report what is wrong inside it.
    // Otherwise (a scalar, or several forms fit equally badly) list the forms.
    if (bestScore[0] === 1 && !scalar && (typeMatched === 1 || bestScore[1] > path.length)) {
      return { issues: results[best]!.issues, deprecations: [] };
    }
    return {
      issues: [{ path, keyword, message: `expected ${this.describeAll(subs)}, got ${typeWord(jsonType(v))}${scalar ? ` ${show(v)}` : ''}` }],
      deprecations: [],
    };
  }

  /** Alternatives in words, with the literal values of enum forms gathered into one "one of". */
  private describeAll(subs: JsonSchema[]): string {
    const words: string[] = [];
    const values: unknown[] = [];
    const collect = (sub: JsonSchema, depth: number): void => {
      if (typeof sub === 'object' && sub.type === undefined && depth < 8) {
        if (Array.isArray(sub.enum)) {
          values.push(...sub.enum);
          return;
        }
        if (typeof sub.$ref === 'string') return collect(this.resolveRef(sub.$ref), depth + 1);
        const alts = (sub.oneOf ?? sub.anyOf) as JsonSchema[] | undefined;
        if (Array.isArray(alts)) {
          for (const a of alts) collect(a, depth + 1);
          return;
        }
      }
      words.push(this.describe(sub));
    };
    for (const sub of subs) collect(sub, 0);
    if (values.length > 0) words.push(values.length === 1 ? show(values[0]) : `one of ${values.map((x) => show(x)).join(', ')}`);
    return joinOr(words);
  }

  /** A few words for what a sub-schema accepts ("a string", "one of \"a\", \"b\""). */
  describe(schema: JsonSchema, depth = 0): string {
    if (schema === true) return 'anything';
    if (schema === false) return 'nothing';
    if (Array.isArray(schema.enum)) return `one of ${schema.enum.map((e) => show(e)).join(', ')}`;
    if (schema.type !== undefined) {
      const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
      const base = joinOr(types.map(typeWord));
      if (typeof schema.pattern === 'string') return `${base} matching ${schema.pattern}`;
      return base;
    }
    if (typeof schema.$ref === 'string' && depth < 8) return this.describe(this.resolveRef(schema.$ref), depth + 1);
    const alts = (schema.oneOf ?? schema.anyOf) as JsonSchema[] | undefined;
    if (Array.isArray(alts) && depth < 8) return joinOr(alts.map((a) => this.describe(a, depth + 1)));
    if (Array.isArray(schema.allOf) && depth < 8) {
      return (schema.allOf as JsonSchema[]).map((a) => this.describe(a, depth + 1)).find((d) => d !== 'anything') ?? 'anything';
    }
    if (schema.properties || schema.required) return 'a mapping';
    return 'anything';
  }
}

function describeNot(sub: JsonSchema): string {
  if (typeof sub === 'object' && Array.isArray(sub.required) && Object.keys(sub).length === 1) {
    return `must not set both ${(sub.required as string[]).map((k) => `"${k}"`).join(' and ')}: they are spellings of the same option`;
  }
  return 'is not allowed here';
}

import { CST, isAlias, isMap, isScalar, isSeq, LineCounter, Parser, parseDocument, type Document, type Node, type ScalarTag } from 'yaml';
import type { SourceDiagnostic } from '../errors.js';
import type { SourceLocation } from './types.js';

/** A parsed YAML text that can say where any path inside it was written. */
export interface YamlSource {
  file: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** The document as plain JS values (undefined for an empty document). */
  value: unknown;
  /** YAML syntax errors and warnings, already located. */
  diagnostics: SourceDiagnostic[];
}

export type Path = readonly (string | number)[];

/**
 * Integers as go-yaml v3 (LinuxKit's parser) reads plain scalars: Go's
 * ParseInt(s, 0, 64), so a leading 0 means octal (0755 is 493), 0b/0o/0x
 * prefixes and digit-separating underscores are allowed. Everything else
 * (floats, booleans true/false only, nulls) already matches the core schema.
 */
const goInt: ScalarTag = {
  identify: (v) => typeof v === 'number' && Number.isInteger(v),
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /^[-+]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?[0-7])+|[1-9](?:_?[0-9])*|0)$/,
  resolve(str) {
    const sign = str.startsWith('-') ? -1 : 1;
    let digits = str.replace(/^[-+]/, '').replace(/_/g, '');
    let radix = 10;
    if (/^0[xX]/.test(digits)) [radix, digits] = [16, digits.slice(2)];
    else if (/^0[oO]/.test(digits)) [radix, digits] = [8, digits.slice(2)];
    else if (/^0[bB]/.test(digits)) [radix, digits] = [2, digits.slice(2)];
    else if (digits.length > 1 && digits.startsWith('0')) radix = 8;
    return sign * parseInt(digits, radix);
  },
};

/**
 * How deep collections may nest. A LinuxKit spec needs under 10 levels;
 * far deeper documents only exhaust the parser's and our recursion (a
 * stack overflow, or worse), so they are refused up front.
 */
export const MAX_NESTING = 64;

/** Offset of the first flow bracket (`[`, `{`) nested deeper than `max`, outside quotes and comments; -1 if none. */
export function tooDeepFlow(text: string, max = MAX_NESTING): number {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
      continue;
    }
    if (c === '"' || c === "'") {
      // a quote starts a scalar only at a token start: after space, bracket, comma, colon or line start
      const prev = i === 0 ? '\n' : text[i - 1]!;
      if (/[\s[{,:]/.test(prev)) quote = c;
      continue;
    }
    if (c === '[' || c === '{') {
      if (++depth > max) return i;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return -1;
}

/** The first node nested deeper than `max` (block or flow), found without recursion. */
function tooDeepNode(doc: Document.Parsed, max = MAX_NESTING): Node | undefined {
  const stack: Array<[unknown, number]> = [[doc.contents, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth >= max) return node as Node;
    for (const item of node.items as unknown[]) {
      if (isMap(node)) {
        const pair = item as { key: unknown; value: unknown };
        stack.push([pair.key, depth + 1], [pair.value, depth + 1]);
      } else stack.push([item, depth + 1]);
    }
  }
  return undefined;
}

/**
 * The yaml package builds a double-quoted scalar one character at a time
 * (a rope of millions of pieces for a 1 MiB `contents:`: a 50 MB spec took
 * 1.9 GB and two minutes), single-quoted ones a line at a time. A long
 * double-quoted scalar with no `\` and no `'` has the same value in single
 * quotes, so its two quote characters are swapped before parsing: same
 * length, so every position in diagnostics is unchanged. Found with the
 * lexer (fast), never by guessing, so block scalars are left alone.
 */
const LONG_SCALAR = 64 << 10;
function singleQuoteLongScalars(text: string): string {
  if (text.length < LONG_SCALAR) return text;
  const at: number[] = [];
  const check = (tok: CST.Token | null | undefined) => {
    if (tok?.type === 'double-quoted-scalar' && tok.source.length > LONG_SCALAR && !/[\\']/.test(tok.source)) at.push(tok.offset, tok.offset + tok.source.length - 1);
  };
  try {
    for (const tok of new Parser().parse(text)) {
      if (tok.type !== 'document') continue;
      check(tok.value);
      CST.visit(tok, (item) => {
        check(item.key as CST.Token | null | undefined);
        check(item.value);
      });
    }
  } catch {
    return text; // (too deep for the lexer's recursion: parseDocument reports it)
  }
  if (at.length === 0) return text;
  const parts: string[] = [];
  let from = 0;
  for (const i of at.sort((a, b) => a - b)) {
    if (text[i] !== '"') return text; // not where the lexer said: leave the text as it is
    parts.push(text.slice(from, i), "'");
    from = i + 1;
  }
  parts.push(text.slice(from));
  return parts.join('');
}

export function parseYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const deepFlow = tooDeepFlow(text);
  if (deepFlow >= 0) {
    // parse nothing: the parser itself would recurse once per level
    const doc = parseDocument('', { lineCounter });
    const before = text.slice(0, deepFlow);
    const line = before.split('\n').length;
    const col = deepFlow - before.lastIndexOf('\n');
    const diagnostics: SourceDiagnostic[] = [{ file, line, col, message: `YAML: collections nested more than ${MAX_NESTING} levels deep`, severity: 'error' }];
    return { file, doc, lineCounter, value: undefined, diagnostics };
  }
  const doc = parseDocument(singleQuoteLongScalars(text), {
    lineCounter,
    // (the yaml package would print odd-key warnings on stderr itself)
    logLevel: 'error',
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
    customTags: (tags) => [goInt, ...tags],
  });
  const diagnostics: SourceDiagnostic[] = [];
  // an error at the very end (e.g. an unclosed bracket) reads better on the last line than on a line after it
  const last = text.endsWith('\n') ? text.length - 1 : text.length;
  const at = (offset: number) => {
    const p = lineCounter.linePos(Math.min(offset, Math.max(last, 0)));
    return { line: p.line, col: p.col };
  };
  for (const e of doc.errors) {
    const message =
      e.code === 'DUPLICATE_KEY'
        ? `duplicate key ${duplicateKeyName(text, e.pos[0])}`
        : e.code === 'MULTIPLE_DOCS'
          ? 'a second document starts here; a spec file holds one YAML document (give several files instead)'
          : yamlMessage(e.message);
    diagnostics.push({ file, ...at(e.pos[0]), message: `YAML: ${message}`, severity: 'error' });
  }
  for (const w of doc.warnings) diagnostics.push({ file, ...at(w.pos[0]), message: `YAML: ${yamlMessage(w.message)}`, severity: 'warning' });
  let value: unknown;
  const deep = doc.errors.length === 0 ? tooDeepNode(doc) : undefined;
  if (deep) {
    diagnostics.push({ file, ...at(deep.range?.[0] ?? 0), message: `YAML: collections nested more than ${MAX_NESTING} levels deep`, severity: 'error' });
  } else if (doc.errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      diagnostics.push({ file, line: 1, col: 1, message: `YAML: ${(e as Error).message}`, severity: 'error' });
    }
  }
  return { file, doc, lineCounter, value, diagnostics };
}

/** The key written at `offset`, for "duplicate key" messages. */
function duplicateKeyName(text: string, offset: number): string {
  const raw = /^[^:\n]*/.exec(text.slice(offset))![0].trim();
  return JSON.stringify(raw.replace(/^(['"])(.*)\1$/, '$2'));
}

/** The yaml package's messages end with the position and a source excerpt when pretty; keep the first line. */
function yamlMessage(m: string): string {
  // the parser recursing once per level ran out of stack
  if (/Maximum call stack size exceeded/.test(m)) return `collections nested too deeply (more than ${MAX_NESTING} levels are refused)`;
  const first = m.split('\n')[0]!.trim();
  return first.replace(/ at line \d+, column \d+:?$/, '');
}

function deref(doc: Document, node: unknown): unknown {
  let n = node;
  for (let i = 0; i < 100 && isAlias(n); i++) n = n.resolve(doc);
  return n;
}

interface Found {
  /** Deepest node reached along the path. */
  node: Node | null;
  /** Key node of the last map step actually taken, if the last step was a map key. */
  key: Node | null;
  /** How many path steps were followed. */
  depth: number;
}

function walk(src: YamlSource, path: Path): Found {
  let node = deref(src.doc, src.doc.contents) as Node | null;
  let key: Node | null = null;
  let depth = 0;
  for (const step of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = deref(src.doc, p.key);
        return isScalar(k) ? String(k.value) === String(step) : false;
      });
      if (!pair) break;
      key = isScalar(pair.key) || isAlias(pair.key) ? (pair.key as Node) : null;
      node = (deref(src.doc, pair.value) as Node | null) ?? null;
      if (node === null) {
        depth++;
        break;
      }
    } else if (isSeq(node) && typeof step === 'number') {
      const item = node.items[step];
      if (item === undefined) break;
      key = null;
      node = deref(src.doc, item) as Node | null;
    } else break;
    depth++;
  }
  return { node, key, depth };
}

function locOf(src: YamlSource, n: Node | null): SourceLocation {
  const offset = n?.range?.[0];
  if (offset === undefined) return { file: src.file, line: 1, col: 1 };
  const p = src.lineCounter.linePos(offset);
  return { file: src.file, line: p.line, col: p.col };
}

/**
 * Where the value at `path` was written. When `at` is 'key' and the last step
 * is a map key, the key's position instead. If the path does not exist
 * entirely, the deepest part that does.
 */
export function locate(src: YamlSource, path: Path, at: 'value' | 'key' = 'value'): SourceLocation {
  const f = walk(src, path);
  // `key:` with nothing after it: point at the key, not at the end of its line
  if (f.depth === path.length && isScalar(f.node) && f.node.value === null && f.key && f.node.range && f.node.range[0] === f.node.range[1])
    return locOf(src, f.key);
  if (f.depth === path.length && at === 'key' && f.key && typeof path[path.length - 1] === 'string') return locOf(src, f.key);
  if (f.depth === path.length && f.node === null && f.key) return locOf(src, f.key);
  if (f.depth < path.length && f.node === null && f.key) return locOf(src, f.key);
  return locOf(src, f.node ?? f.key);
}

/** Whether `path` exists in the document (a key present with any value, including null). */
export function hasPath(src: YamlSource, path: Path): boolean {
  return walk(src, path).depth === path.length;
}

/** A locator bound to a sub-tree: paths relative to `base`. */
export type Locator = (path: Path, at?: 'value' | 'key') => SourceLocation;

export function locator(src: YamlSource, base: Path): Locator {
  return (path, at) => locate(src, [...base, ...path], at);
}

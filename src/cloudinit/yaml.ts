/**
 * cloud-config YAML as cloud-init reads it: YAML 1.1 (PyYAML's safe_load),
 * so `0644` is the integer 420, `yes`/`on` are true and unquoted dates are
 * timestamps; scalars resolve exactly as PyYAML resolves them. Duplicate keys are allowed (the last one wins, as in PyYAML)
 * but reported as warnings. Node positions stay available for diagnostics.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair, type Tags } from 'yaml';
import type { PathSegment } from './jsonschema.js';

const BOOL = 'tag:yaml.org,2002:bool';
const INT = 'tag:yaml.org,2002:int';
const FLOAT = 'tag:yaml.org,2002:float';

function base60(s: string): number {
  return s.split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
}

function pyInt(src: string): number {
  let s = src.replace(/_/g, '');
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s.startsWith('0b')) return sign * parseInt(s.slice(2), 2);
  if (s.startsWith('0x')) return sign * parseInt(s.slice(2), 16);
  if (s.startsWith('0')) return sign * parseInt(s.slice(1), 8);
  if (s.includes(':')) return sign * base60(s);
  return sign * Number(s);
}

function pyFloat(src: string): number {
  let s = src.replace(/_/g, '').toLowerCase();
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '.inf') return sign * Infinity;
  if (s === '.nan') return NaN;
  if (s.includes(':')) return sign * base60(s);
  return sign * Number(s);
}

/**
 * PyYAML's implicit resolvers for booleans, integers and floats, which differ
 * from YAML 1.1 as the `yaml` package reads it: `y`/`n` stay strings, `09`
 * and `1e3` stay strings, sexagesimal numbers must not start with 0.
 */
const PYYAML_SCALARS = [
  { identify: (v: unknown) => v === true, default: true, tag: BOOL, test: /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/, resolve: () => true },
  { identify: (v: unknown) => v === false, default: true, tag: BOOL, test: /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/, resolve: () => false },
  {
    identify: (v: unknown) => typeof v === 'number' && Number.isInteger(v),
    default: true,
    tag: INT,
    test: /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
    resolve: pyInt,
  },
  {
    identify: (v: unknown) => typeof v === 'number',
    default: true,
    tag: FLOAT,
    test: /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
    resolve: pyFloat,
  },
  {
    // A plain `=` is YAML 1.1's "value" key type, which PyYAML's safe loader cannot construct.
    identify: () => false,
    default: true,
    tag: 'tag:yaml.org,2002:value',
    test: /^=$/,
    resolve: (_s: string, onError: (msg: string) => void) => {
      onError('a plain "=" is YAML 1.1\'s value type, which cloud-init cannot load: quote it');
      return '=';
    },
  },
];

function pyyamlTags(tags: Tags): Tags {
  return [...tags.filter((t) => typeof t !== 'object' || ![BOOL, INT, FLOAT].includes((t as { tag: string }).tag)), ...PYYAML_SCALARS] as Tags;
}

export interface Position {
  line: number;
  col: number;
}

export interface ParsedYaml {
  doc: Document.Parsed;
  /** The value as plain JS (later duplicate keys win). */
  value: unknown;
  lineCounter: LineCounter;
  /** Syntax errors with positions; when non-empty `value` must not be used. */
  errors: { message: string; pos: Position }[];
  /** Duplicate mapping keys: where the repeat is, and its path. */
  duplicates: { path: PathSegment[]; key: string; pos: Position; firstPos: Position }[];
}

export function parseYaml11(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  // logLevel error: the yaml package would print odd-key warnings on stderr itself
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: false, lineCounter, prettyErrors: false, merge: true, customTags: pyyamlTags, logLevel: 'error' });
  const posOf = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  const errors = doc.errors.map((e) => ({ message: e.message.split('\n')[0]!, pos: posOf(e.pos[0]) }));
  const duplicates: ParsedYaml['duplicates'] = [];
  let value: unknown = null;
  if (errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      errors.push({ message: e instanceof Error ? e.message : String(e), pos: { line: 1, col: 1 } });
    }
    findDuplicates(doc.contents as Node | null, [], duplicates, posOf);
  }
  return { doc, value, lineCounter, errors, duplicates };
}

function keyString(pair: Pair): string | undefined {
  const k = pair.key;
  if (isScalar(k)) return typeof k.value === 'symbol' ? '<<' : String(k.value);
  if (k === null || k === undefined) return '';
  return undefined;
}

function findDuplicates(
  node: Node | null,
  path: PathSegment[],
  out: ParsedYaml['duplicates'],
  posOf: (o: number) => Position,
): void {
  if (!node) return;
  if (isMap(node)) {
    const seen = new Map<string, Pair>();
    for (const pair of node.items) {
      const k = keyString(pair);
      if (k === undefined) continue;
      if (k === '<<') continue;
      const prev = seen.get(k);
      if (prev && isScalar(pair.key) && isScalar(prev.key)) {
        out.push({ path: [...path, k], key: k, pos: posOf(pair.key.range![0]), firstPos: posOf(prev.key.range![0]) });
      }
      seen.set(k, pair);
      findDuplicates(pair.value as Node | null, [...path, k], out, posOf);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => findDuplicates(item as Node | null, [...path, i], out, posOf));
  }
}

/**
 * The node at a path, or the nearest ancestor that exists. With `key`, the
 * mapping key node itself (for "unknown key" errors) rather than its value.
 */
export function nodeAt(doc: Document.Parsed, path: PathSegment[], key = false): Node | null {
  let node: Node | null = doc.contents as Node | null;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (node && isAlias(node)) node = (node.resolve(doc) as Node | undefined) ?? node;
    if (isMap(node)) {
      const pair = findPair(doc, node, String(seg));
      if (!pair) return node;
      if (last && key && pair.key) return pair.key as Node;
      node = (pair.value as Node | null) ?? (pair.key as Node);
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) return node;
      node = item;
    } else return node;
  }
  return node;
}

function findPair(doc: Document.Parsed, map: Node, key: string): Pair | undefined {
  if (!isMap(map)) return undefined;
  let found: Pair | undefined;
  for (const pair of map.items) if (keyString(pair) === key) found = pair;
  if (found) return found;
  // YAML 1.1 merge keys: the key may come from a merged mapping.
  for (const pair of map.items) {
    if (keyString(pair) !== '<<') continue;
    const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
    for (let src of sources as (Node | null)[]) {
      if (src && isAlias(src)) src = (src.resolve(doc) as Node | undefined) ?? null;
      const p = src ? findPair(doc, src, key) : undefined;
      if (p) return p;
    }
  }
  return undefined;
}

export function positionOf(parsed: ParsedYaml, path: PathSegment[], key = false): Position {
  const node = nodeAt(parsed.doc, path, key);
  const offset = node?.range?.[0] ?? 0;
  const p = parsed.lineCounter.linePos(offset);
  return { line: p.line, col: p.col };
}


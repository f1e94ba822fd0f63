/**
 * User-data as cloud-init reads it: one payload that may be gzip-compressed,
 * a MIME message (when "mime-version:" appears in its first 4 KiB, as
 * cloud-init decides), a `#cloud-config-archive` list, or a single document
 * whose first line says what it is (`#cloud-config`, `#!` ...).
 *
 * What Coracle hosts apply: cloud-config parts (merged) and shell-script
 * parts. Parts that need something Coracle hosts do not have (URLs to fetch,
 * Jinja rendering of instance data, boothooks, part handlers) are errors that
 * say so; types cloud-init itself ignores are warnings.
 */
import { gunzipSync } from 'node:zlib';
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import { mergeCloudConfigs } from './merge.js';
import { parseMime, partFilename, type MimeEntity } from './mime.js';
import { makeDiagnostic, validateCloudConfig, type CloudInitDiagnostic, type SourceLabel } from './validate.js';

export type ScriptFrequency = 'per-instance' | 'per-boot' | 'per-once';

export interface CloudConfigPart {
  kind: 'cloud-config';
  /** Where the part came from, as used in diagnostics. */
  source: string;
  text: string;
  /** The parsed config; null when the part did not validate as a mapping. */
  config: Record<string, unknown> | null;
}

export interface ScriptPart {
  kind: 'script';
  source: string;
  /** File name the script gets on the host (from the part, else part-NNN as cloud-init names them). */
  filename: string;
  frequency: ScriptFrequency;
  content: Buffer;
}

export type UserDataPart = CloudConfigPart | ScriptPart;

export interface UserData {
  parts: UserDataPart[];
  /** All cloud-config parts merged (later top-level keys replace earlier ones). */
  cloudConfig: Record<string, unknown>;
  diagnostics: CloudInitDiagnostic[];
  /** No errors (warnings allowed). */
  ok: boolean;
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** First-line markers, longest first, as cloud-init matches them (case-insensitive, leading blanks skipped). */
const STARTS_WITH: [string, string][] = (
  [
    ['#include-once', 'text/x-include-once-url'],
    ['#include', 'text/x-include-url'],
    ['#!', 'text/x-shellscript'],
    ['#cloud-config-archive', 'text/cloud-config-archive'],
    ['#cloud-config-jsonp', 'text/cloud-config-jsonp'],
    ['#cloud-config', 'text/cloud-config'],
    ['#part-handler', 'text/part-handler'],
    ['#cloud-boothook', 'text/cloud-boothook'],
    ['#upstart-job', 'text/upstart-job'],
    ['## template: jinja', 'text/jinja2'],
  ] as [string, string][]
).sort((a, b) => b[0].length - a[0].length);

export function typeFromStart(content: Buffer | string, fallback: string): string {
  const text = (typeof content === 'string' ? content : content.subarray(0, 256).toString('utf8')).trimStart().toLowerCase();
  for (const [prefix, type] of STARTS_WITH) if (text.startsWith(prefix)) return type;
  return fallback;
}

const SCRIPT_TYPES: Record<string, ScriptFrequency> = {
  'text/x-shellscript': 'per-instance',
  'text/x-shellscript-per-instance': 'per-instance',
  'text/x-shellscript-per-boot': 'per-boot',
  'text/x-shellscript-per-once': 'per-once',
};

/** Types cloud-init knows that Coracle hosts cannot honour, and why. */
const NOT_SUPPORTED: Record<string, string> = {
  'text/x-include-url': '#include (text/x-include-url) is not supported: Coracle hosts do not fetch user-data from URLs; put the content in the user-data itself',
  'text/x-include-once-url': '#include-once (text/x-include-once-url) is not supported: Coracle hosts do not fetch user-data from URLs; put the content in the user-data itself',
  'text/jinja2': 'Jinja templates (## template: jinja) are not supported: Coracle hosts do not render instance data into user-data',
  'text/cloud-boothook': '#cloud-boothook parts are not supported: use bootcmd, which runs at the same point on every boot',
  'text/part-handler': '#part-handler parts are not supported: Coracle hosts do not run Python part handlers',
  'text/cloud-config-jsonp': '#cloud-config-jsonp (JSON patch) parts are not supported: write the merged cloud-config instead',
};

interface Ctx {
  label: SourceLabel;
  parts: UserDataPart[];
  diagnostics: CloudInitDiagnostic[];
  partCount: number;
}

/** Parse and validate user-data; collects every problem instead of stopping at the first. */
export function parseUserData(input: Buffer | string, label: SourceLabel): UserData {
  const ctx: Ctx = { label, parts: [], diagnostics: [], partCount: 0 };
  let data = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let compressed = false;
  if (isGzip(data)) {
    const out = gunzip(data, ctx, label.file, 1);
    if (!out) return finish(ctx);
    data = out;
    compressed = true;
  }
  const where: Placement = compressed
    ? { source: `${label.file}(gunzipped)`, lineOffset: undefined }
    : { source: label.file, lineOffset: label.lineOffset ?? 0 };
  if (data.subarray(0, 4096).toString('latin1').toLowerCase().includes('mime-version:')) {
    const entity = parseMime(data.toString('latin1'));
    handleEntity(entity, ctx, where, true);
  } else {
    ctx.partCount++;
    handlePayload(ctx, { body: data, type: typeFromStart(data, 'text/x-not-multipart'), where, n: ctx.partCount });
  }
  return finish(ctx);
}

function finish(ctx: Ctx): UserData {
  const configs = ctx.parts.filter((p): p is CloudConfigPart => p.kind === 'cloud-config' && p.config !== null).map((p) => p.config!);
  return {
    parts: ctx.parts,
    cloudConfig: mergeCloudConfigs(configs),
    diagnostics: ctx.diagnostics,
    ok: !ctx.diagnostics.some((d) => d.severity === 'error'),
  };
}

interface Placement {
  /** Name for diagnostics: the file, or the file plus the part. */
  source: string;
  /** Line offset of this content within the file; undefined when the bytes were decoded (positions are then within the part). */
  lineOffset: number | undefined;
}

function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === GZIP_MAGIC[0] && b[1] === GZIP_MAGIC[1];
}

function gunzip(b: Buffer, ctx: Ctx, source: string, line: number): Buffer | undefined {
  try {
    return gunzipSync(b);
  } catch (e) {
    ctx.diagnostics.push(
      makeDiagnostic({ file: source }, { line, col: 1 }, 'error', 'mime', '', `gzip-compressed user-data does not decompress: ${e instanceof Error ? e.message : String(e)}`),
    );
    return undefined;
  }
}

function diag(ctx: Ctx, where: Placement, line: number, severity: 'error' | 'warning', code: CloudInitDiagnostic['code'], detail: string): void {
  ctx.diagnostics.push(makeDiagnostic({ file: where.source, lineOffset: where.lineOffset ?? 0 }, { line, col: 1 }, severity, code, '', detail));
}

function handleEntity(e: MimeEntity, ctx: Ctx, where: Placement, top: boolean): void {
  // Python's email parser, which cloud-init uses, forgives a missing closing boundary.
  for (const p of e.problems) diag(ctx, where, e.startLine + 1, p.startsWith('multipart body is not closed') ? 'warning' : 'error', 'mime', `MIME: ${p}`);
  if (e.parts) {
    for (const child of e.parts) handleEntity(child, ctx, where, false);
    return;
  }
  ctx.partCount++;
  const n = ctx.partCount;
  const filename = partFilename(e);
  const encoded = e.transferEncoding !== '';
  const partWhere: Placement = encoded
    ? { source: `${where.source}[part ${n}${filename ? ` ${filename}` : ''}]`, lineOffset: undefined }
    : { source: where.source, lineOffset: (where.lineOffset ?? 0) + e.bodyLine };
  let body = e.body;
  let type = e.contentType;
  const headerLine = e.startLine + 1;
  if (type === 'application/x-gzip' || type === 'application/gzip' || isGzip(body)) {
    const out = gunzip(body, ctx, partWhere.source, partWhere.lineOffset === undefined ? 1 : partWhere.lineOffset + 1);
    if (!out) return;
    body = out;
    partWhere.lineOffset = undefined;
    if (partWhere.source === where.source) partWhere.source = `${where.source}[part ${n}${filename ? ` ${filename}` : ''}]`;
    if (type === 'application/x-gzip' || type === 'application/gzip') type = '';
  }
  // cloud-init guesses the type of untyped and text/plain parts from their first line.
  if (type === '' || type === 'text/plain' || type === 'text/x-not-multipart' || type === 'application/octet-stream') {
    type = typeFromStart(body, top ? 'text/x-not-multipart' : type || 'text/plain');
  }
  handlePayload(ctx, { body, type, where: partWhere, filename, header: { where, line: headerLine }, n });
}

interface Payload {
  body: Buffer;
  type: string;
  /** Where the body's own lines are reported. */
  where: Placement;
  filename?: string;
  /** The part's header line, where problems with the part as a whole are reported. */
  header?: { where: Placement; line: number };
  /** The part's number (cloud-init counts parts from 1). */
  n: number;
}

function handlePayload(ctx: Ctx, p: Payload): void {
  const { body, type, where, filename, n } = p;
  const at = (severity: 'error' | 'warning', code: CloudInitDiagnostic['code'], detail: string): void => {
    if (p.header) diag(ctx, p.header.where, p.header.line, severity, code, detail);
    else diag(ctx, where, 1, severity, code, detail);
  };
  if (isGzip(body)) {
    const out = gunzip(body, ctx, where.source, 1);
    if (!out) return;
    handlePayload(ctx, { ...p, body: out, type: typeFromStart(out, type), where: { source: `${where.source}(gunzipped)`, lineOffset: undefined } });
    return;
  }
  if (type === 'text/cloud-config') {
    const text = body.toString('utf8');
    const r = validateCloudConfig(text, { file: where.source, lineOffset: where.lineOffset });
    ctx.diagnostics.push(...r.diagnostics);
    ctx.parts.push({ kind: 'cloud-config', source: where.source, text, config: r.config });
    return;
  }
  if (type === 'text/cloud-config-archive') {
    handleArchive(body.toString('utf8'), ctx, where);
    return;
  }
  const freq = SCRIPT_TYPES[type];
  if (freq) {
    ctx.parts.push({ kind: 'script', source: where.source, filename: safeName(filename) ?? `part-${String(n).padStart(3, '0')}`, frequency: freq, content: body });
    return;
  }
  const unsupported = NOT_SUPPORTED[type];
  if (unsupported) {
    at('error', 'not-supported', unsupported);
    return;
  }
  if (type === 'text/x-not-multipart') {
    if (body.toString('utf8').trim() === '') return;
    at('error', 'not-supported', 'user-data is not recognised: start it with "#cloud-config" (YAML) or "#!" (a script), or send a MIME multipart message');
    return;
  }
  if (type === 'text/upstart-job') {
    at('warning', 'ignored-part', '#upstart-job part is ignored: cloud-init dropped upstart support, and Coracle hosts have no upstart');
    return;
  }
  at('warning', 'ignored-part', `part of type "${type || 'text/plain'}" is ignored (cloud-init has no handler for it either)`);
}

/** A part's file name as a plain name: cloud-init writes scripts under one folder. */
function safeName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const base = name.split(/[\\/]/).pop() ?? '';
  return base === '' || base === '.' || base === '..' ? undefined : base;
}

/** `#cloud-config-archive`: a YAML list of parts (a string, or {type, content, filename}). */
function handleArchive(text: string, ctx: Ctx, where: Placement): void {
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: false });
  if (doc.errors.length > 0) {
    diag(ctx, where, 1, 'error', 'yaml-syntax', `invalid YAML in #cloud-config-archive: ${doc.errors[0]!.message.split('\n')[0]}`);
    return;
  }
  const root = doc.contents;
  if (!isSeq(root)) {
    diag(ctx, where, 1, 'error', 'not-a-mapping', '#cloud-config-archive must be a YAML list of parts');
    return;
  }
  const lineOf = (offset: number | undefined): number => (offset === undefined ? 1 : text.slice(0, offset).split('\n').length);
  for (const item of root.items) {
    ctx.partCount++;
    const n = ctx.partCount;
    const line = lineOf((item as { range?: [number, number, number] } | null)?.range?.[0]);
    let content = '';
    let type: string | undefined;
    let filename: string | undefined;
    if (isScalar(item)) content = String(item.value ?? '');
    else if (isMap(item)) {
      const js = item.toJSON() as Record<string, unknown>;
      content = typeof js.content === 'string' ? js.content : '';
      type = typeof js.type === 'string' ? js.type.toLowerCase() : undefined;
      filename = typeof js.filename === 'string' ? js.filename : undefined;
    } else {
      diag(ctx, where, line, 'error', 'not-a-mapping', 'a #cloud-config-archive entry must be a string or a mapping with "content"');
      continue;
    }
    const partType = type ?? typeFromStart(content, 'text/cloud-config');
    const partWhere: Placement = { source: `${where.source}[archive entry ${n}${filename ? ` ${filename}` : ''}]`, lineOffset: undefined };
    const before = ctx.diagnostics.length;
    handlePayload(ctx, { body: Buffer.from(content, 'utf8'), type: partType, where: partWhere, filename, header: { where, line }, n });
    // An archive entry's cloud-config that is not a mapping is skipped by cloud-init with a warning.
    for (const d of ctx.diagnostics.slice(before)) {
      if (d.code === 'not-a-mapping' && d.file === partWhere.source) {
        d.severity = 'warning';
        d.detail = `${d.detail}; cloud-init skips such an archive entry`;
        d.message = d.detail;
        const p = ctx.parts.at(-1);
        if (p?.kind === 'cloud-config') p.config = null;
      }
    }
  }
}

/**
 * Just enough MIME (RFC 2045/2046) for cloud-init user-data: headers with
 * folding, parameters, multipart bodies split on their boundary (nested too),
 * and base64 / quoted-printable transfer encodings. Structure is parsed on a
 * latin1 view of the bytes so every byte, and every line number, survives.
 */

export interface MimeHeaders {
  /** Lower-cased header name -> unfolded value (the last one wins). */
  [name: string]: string;
}

export interface MimeEntity {
  headers: MimeHeaders;
  /** `type/subtype`, lower-cased; '' when the entity has no Content-Type. */
  contentType: string;
  params: Record<string, string>;
  /** Body bytes after undoing the transfer encoding. */
  body: Buffer;
  /** The transfer encoding that was undone ('' for none / 7bit / 8bit / binary). */
  transferEncoding: string;
  /** 0-based line in the outermost message where this entity's headers start. */
  startLine: number;
  /** 0-based line in the outermost message where the body starts; valid only when no encoding was undone. */
  bodyLine: number;
  /** Sub-entities when the type is multipart/*. */
  parts?: MimeEntity[];
  /** Parse problems that did not stop parsing (missing closing boundary ...). */
  problems: string[];
}

function countLines(s: string, end: number): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i !== -1 && i < end; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/** Split `type/sub; a=b; c="d e"` into the type and its parameters. */
export function parseContentType(value: string): { type: string; params: Record<string, string> } {
  const params: Record<string, string> = {};
  const semi = value.indexOf(';');
  const type = (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
  const rest = semi === -1 ? '' : value.slice(semi + 1);
  const re = /\s*([^=;\s]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]*)\s*;?/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(rest)) !== null && m[0] !== '') {
    const v = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2]!.trim();
    params[m[1]!.toLowerCase()] = v;
  }
  return { type, params };
}

function decodeQuotedPrintable(s: string): Buffer {
  const cleaned = s.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < cleaned.length; i++) {
    const c = cleaned[i]!;
    if (c === '=' && /^[0-9A-Fa-f]{2}$/.test(cleaned.slice(i + 1, i + 3))) {
      bytes.push(parseInt(cleaned.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(cleaned.charCodeAt(i) & 0xff);
  }
  return Buffer.from(bytes);
}

/**
 * Parse a MIME entity from `text` (a latin1 string of the raw bytes).
 * `lineBase` is the line of `text`'s first character in the outermost message.
 */
export function parseMime(text: string, lineBase = 0): MimeEntity {
  // Headers end at the first empty line.
  const m = /\r?\n\r?\n/.exec(text);
  const headerEnd = m ? m.index : text.length;
  const bodyStart = m ? m.index + m[0].length : text.length;
  const headers: MimeHeaders = {};
  const headerText = text.slice(0, headerEnd);
  let current = '';
  for (const line of headerText.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && current) {
      headers[current] += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    current = line.slice(0, colon).trim().toLowerCase();
    headers[current] = line.slice(colon + 1).trim();
  }
  const { type, params } = parseContentType(headers['content-type'] ?? '');
  const rawBody = text.slice(bodyStart);
  const bodyLine = lineBase + countLines(text, bodyStart);
  const problems: string[] = [];
  const entity: MimeEntity = {
    headers,
    contentType: type,
    params,
    body: Buffer.alloc(0),
    transferEncoding: '',
    startLine: lineBase,
    bodyLine,
    problems,
  };

  if (type.startsWith('multipart/')) {
    const boundary = params.boundary;
    if (!boundary) {
      problems.push(`${type} has no boundary parameter`);
      entity.parts = [];
      return entity;
    }
    entity.parts = splitMultipart(rawBody, boundary, bodyLine, problems);
    return entity;
  }

  const cte = (headers['content-transfer-encoding'] ?? '').trim().toLowerCase();
  if (cte === 'base64') {
    entity.body = Buffer.from(rawBody.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
    entity.transferEncoding = 'base64';
  } else if (cte === 'quoted-printable') {
    entity.body = decodeQuotedPrintable(rawBody);
    entity.transferEncoding = 'quoted-printable';
  } else {
    if (cte !== '' && !['7bit', '8bit', 'binary'].includes(cte)) problems.push(`unknown Content-Transfer-Encoding "${cte}"`);
    entity.body = Buffer.from(rawBody, 'latin1');
  }
  return entity;
}

function splitMultipart(body: string, boundary: string, lineBase: number, problems: string[]): MimeEntity[] {
  const parts: MimeEntity[] = [];
  const delim = `--${boundary}`;
  // Delimiter lines: "--boundary" or "--boundary--" at a line start, maybe with trailing blanks.
  const lines: { start: number; end: number; close: boolean }[] = [];
  let pos = 0;
  while (pos <= body.length) {
    const nl = body.indexOf('\n', pos);
    const lineEnd = nl === -1 ? body.length : nl;
    const line = body.slice(pos, lineEnd).replace(/\r$/, '');
    if (line.startsWith(delim)) {
      const rest = line.slice(delim.length);
      if (/^[ \t]*$/.test(rest)) lines.push({ start: pos, end: nl === -1 ? body.length : nl + 1, close: false });
      else if (/^--[ \t]*$/.test(rest)) lines.push({ start: pos, end: nl === -1 ? body.length : nl + 1, close: true });
    }
    if (nl === -1) break;
    pos = nl + 1;
  }
  let closed = false;
  for (let i = 0; i < lines.length; i++) {
    const d = lines[i]!;
    if (d.close) {
      closed = true;
      break;
    }
    const next = lines[i + 1];
    const partStart = d.end;
    let partEnd = next ? next.start : body.length;
    // The line break before a delimiter belongs to the delimiter.
    if (next) {
      if (body.slice(partEnd - 2, partEnd) === '\r\n') partEnd -= 2;
      else if (body[partEnd - 1] === '\n') partEnd -= 1;
    }
    const partText = body.slice(partStart, Math.max(partStart, partEnd));
    parts.push(parseMime(partText, lineBase + countLines(body, partStart)));
  }
  if (lines.length === 0) problems.push(`no part delimited by boundary "${boundary}"`);
  else if (!closed) problems.push(`multipart body is not closed by "--${boundary}--"`);
  return parts;
}

export function partFilename(e: MimeEntity): string | undefined {
  const disp = e.headers['content-disposition'];
  if (disp) {
    const f = parseContentType(`x/x; ${disp.replace(/^[^;]*;?/, '')}`).params.filename;
    if (f) return f;
  }
  return e.params.name;
}

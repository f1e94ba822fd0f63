// A small registry (the read side of the distribution API, plus enough of the
// write side to accept a push) that misbehaves on purpose: blobs whose bytes
// do not match their digest, 5xx/429 before success, Basic auth required,
// unknown manifests, bodies cut part-way. It serves images from OCI layouts
// made with images.ts, and blob Range requests (`bytes=N-`) as the
// distribution registry does (206), or answers them wrongly on purpose.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REF_NAME_ANNOTATION, type ImageIndex } from '../../src/oci/types.js';

export interface Failure {
  /** Which requests: matched against `METHOD /path`. */
  match: RegExp;
  /** How many matching requests fail before the rest succeed (Infinity: all). */
  times: number;
  status?: number;
  /** Extra response headers (e.g. Retry-After). */
  headers?: Record<string, string>;
  /**
   * `status` (default): answer with that status. `reset`: send the real
   * headers and half the body, then cut the connection (a lost connection
   * in the middle of a blob). `truncate`: the real headers, half the body,
   * then a clean close (before Content-Length). `stall`: the real headers and
   * half the body, then nothing, the connection held open. The body ones
   * apply to manifest and blob GETs (a ranged blob GET: its part).
   */
  action?: 'status' | 'reset' | 'truncate' | 'stall';
  /** Body bytes sent before a reset/truncate/stall (default half the body). */
  cutAfter?: number;
  /** The bytes sent before the cut have their first byte flipped (bad bytes that never reach the end). */
  corruptCut?: boolean;
}

export interface FaultServerOptions {
  /** repository name -> OCI layout folder; tags are the layout's ref names. */
  repos?: Record<string, string>;
  /** Blob digests served with one byte changed (same length). */
  corruptBlobs?: string[];
  /** Manifest digests served with a space appended (still valid JSON, other digest). */
  corruptManifests?: string[];
  failures?: Failure[];
  /** Require Basic credentials on every /v2/ request. */
  basicAuth?: { username: string; password: string };
  /**
   * Bearer tokens from the server's own /token (anonymous); the current
   * token is revoked (401 from then on) after `revokeAfter` authorized
   * /v2/ requests, as a registry does when a token expires or is revoked
   * in the middle of a pull.
   */
  bearer?: { revokeAfter: number };
  /**
   * How blob GETs with `Range: bytes=N-` are answered: `honour` (default:
   * 206 with its Content-Range, 416 past the end), `ignore` (200 and the
   * whole blob, as a server without range support), `wrong` (206 with the
   * bytes and Content-Range of the whole blob: not the range asked for).
   */
  ranges?: 'honour' | 'ignore' | 'wrong';
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** The status sent (a body cut part-way still sent its 200 or 206). */
  status: number;
  /** The request's Range header. */
  range?: string;
  /** The body was cut part-way: how, and after how many bytes. */
  cut?: { action: 'reset' | 'truncate' | 'stall'; after: number };
}

export interface FaultServer {
  host: string;
  url: string;
  requests: RecordedRequest[];
  /** Tokens handed out by /token (bearer mode). */
  tokensIssued(): number;
  stop(): Promise<void>;
}

interface Repo {
  layout: string;
  tags: Map<string, { digest: string; mediaType: string }>;
}

function errorBody(code: string, message: string): string {
  return JSON.stringify({ errors: [{ code, message, detail: null }] });
}

async function loadRepo(layout: string): Promise<Repo> {
  const idx = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as ImageIndex;
  const tags = new Map<string, { digest: string; mediaType: string }>();
  for (const m of idx.manifests) {
    const name = m.annotations?.[REF_NAME_ANNOTATION];
    if (name) tags.set(name, { digest: m.digest, mediaType: m.mediaType });
  }
  return { layout, tags };
}

export async function startFaultServer(opts: FaultServerOptions = {}): Promise<FaultServer> {
  const repos = new Map<string, Repo>();
  for (const [name, layout] of Object.entries(opts.repos ?? {})) repos.set(name, await loadRepo(layout));
  const corrupt = new Set(opts.corruptBlobs ?? []);
  const failures = (opts.failures ?? []).map((f) => ({ ...f, seen: 0 }));
  const requests: RecordedRequest[] = [];
  const uploads = new Map<string, Buffer[]>();
  let uploadSeq = 0;
  let tokenGen = 0;
  let usedToken = 0;
  let tokensIssued = 0;

  const blobPath = (repo: Repo, digest: string): string => join(repo.layout, 'blobs', ...digest.split(':'));

  const handle = async (req: IncomingMessage, res: ServerResponse, rec: RecordedRequest): Promise<void> => {
    const send = (status: number, headers: Record<string, string | number> = {}, body?: Buffer | string): void => {
      rec.status = status;
      res.writeHead(status, { 'Docker-Distribution-API-Version': 'registry/2.0', ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    let bodyFault: (typeof failures)[number] | undefined;
    /** The real headers and part of the body, then the fault. */
    const partial = (status: number, headers: Record<string, string | number>, body: Buffer, fault: (typeof failures)[number]): void => {
      const action = fault.action as 'reset' | 'truncate' | 'stall';
      const after = Math.min(body.length, fault.cutAfter ?? Math.floor(body.length / 2));
      rec.status = status;
      rec.cut = { action, after };
      res.writeHead(status, { 'Docker-Distribution-API-Version': 'registry/2.0', ...headers, 'Content-Length': body.length });
      const sent = Buffer.from(body.subarray(0, after));
      if (fault.corruptCut && sent.length > 0) sent[0] ^= 0xff;
      res.write(sent, () => {
        if (action === 'reset') setTimeout(() => res.socket?.destroy(), 20);
        else if (action === 'truncate') setTimeout(() => res.socket?.end(), 20);
        // stall: nothing more; stop() closes the connection
      });
    };
    for (const f of failures) {
      if (f.match.test(`${rec.method} ${rec.path}`) && f.seen < f.times) {
        f.seen++;
        if (f.action === 'reset' || f.action === 'truncate' || f.action === 'stall') {
          bodyFault = f;
          break;
        }
        const status = f.status ?? 500;
        send(status, { 'Content-Type': 'application/json', ...(f.headers ?? {}) }, errorBody(status === 429 ? 'TOOMANYREQUESTS' : 'UNKNOWN', `injected failure ${f.seen}`));
        return;
      }
    }
    if (opts.bearer && rec.path === '/token') {
      tokensIssued++;
      return send(200, { 'Content-Type': 'application/json' }, JSON.stringify({ token: `tok-${tokenGen}`, expires_in: 300 }));
    }
    if (!rec.path.startsWith('/v2/')) return send(404);
    if (opts.bearer) {
      if (req.headers.authorization !== `Bearer tok-${tokenGen}`) {
        const host = req.headers.host ?? '127.0.0.1';
        const repo = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(rec.path)?.[1];
        const scope = repo ? `,scope="repository:${repo}:pull"` : '';
        return send(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': `Bearer realm="http://${host}/token",service="fault"${scope}` }, errorBody('UNAUTHORIZED', 'token revoked or missing'));
      }
      if (++usedToken >= opts.bearer.revokeAfter) {
        tokenGen++;
        usedToken = 0;
      }
    }
    if (opts.basicAuth) {
      const h = req.headers.authorization ?? '';
      const want = 'Basic ' + Buffer.from(`${opts.basicAuth.username}:${opts.basicAuth.password}`).toString('base64');
      if (h !== want) {
        return send(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="coracle-fault"' }, errorBody('UNAUTHORIZED', 'authentication required'));
      }
    }
    if (rec.path === '/v2/') return send(200, { 'Content-Type': 'application/json' }, '{}');

    let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(rec.path);
    if (m) {
      const repo = repos.get(m[1]);
      if (!repo) return send(404, { 'Content-Type': 'application/json' }, errorBody('NAME_UNKNOWN', 'repository name not known to registry'));
      const ref = decodeURIComponent(m[2]);
      if (req.method === 'PUT') {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        return send(201, {});
      }
      let entry = repo.tags.get(ref);
      if (!entry && ref.startsWith('sha256:')) {
        try {
          const body = await readFile(blobPath(repo, ref));
          const mt = (JSON.parse(body.toString('utf8')) as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
          entry = { digest: ref, mediaType: mt };
        } catch {
          entry = undefined;
        }
      }
      if (!entry) return send(404, { 'Content-Type': 'application/json' }, errorBody('MANIFEST_UNKNOWN', 'manifest unknown'));
      let body = await readFile(blobPath(repo, entry.digest));
      if ((opts.corruptManifests ?? []).includes(entry.digest)) body = Buffer.concat([body, Buffer.from(' ')]);
      if (bodyFault && req.method === 'GET') return partial(200, { 'Content-Type': entry.mediaType, 'Docker-Content-Digest': entry.digest }, body, bodyFault);
      return send(200, { 'Content-Type': entry.mediaType, 'Content-Length': body.length, 'Docker-Content-Digest': entry.digest }, body);
    }
    m = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(rec.path);
    if (m) {
      const repo = repos.get(m[1]);
      let body: Buffer | undefined;
      try {
        if (repo) body = await readFile(blobPath(repo, m[2]));
      } catch {
        body = undefined;
      }
      if (!body) return send(404, { 'Content-Type': 'application/json' }, errorBody('BLOB_UNKNOWN', 'blob unknown to registry'));
      if (corrupt.has(m[2])) {
        body = Buffer.from(body);
        body[body.length - 1] ^= 0xff;
      }
      const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Docker-Content-Digest': m[2] };
      let status = 200;
      const range = /^bytes=(\d+)-$/.exec(rec.range ?? '');
      if (range && req.method === 'GET' && (opts.ranges ?? 'honour') !== 'ignore') {
        const start = Number(range[1]);
        if (opts.ranges === 'wrong') {
          status = 206;
          headers['Content-Range'] = `bytes 0-${body.length - 1}/${body.length}`;
        } else if (start >= body.length) {
          return send(416, { 'Content-Range': `bytes */${body.length}` });
        } else {
          status = 206;
          headers['Content-Range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
          body = body.subarray(start);
        }
      }
      if (bodyFault && req.method === 'GET') return partial(status, headers, body, bodyFault);
      return send(status, { ...headers, 'Content-Length': body.length }, body);
    }
    // Minimal upload support, so pushes to a failing server get as far as the fault.
    m = /^\/v2\/(.+)\/blobs\/uploads\/([^/]*)$/.exec(rec.path);
    if (m) {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      if (req.method === 'POST') {
        const id = String(++uploadSeq);
        uploads.set(id, chunks);
        return send(202, { Location: `/v2/${m[1]}/blobs/uploads/${id}`, 'Docker-Upload-UUID': id, Range: '0-0' });
      }
      const id = m[2];
      const parts = uploads.get(id);
      if (!parts) return send(404, { 'Content-Type': 'application/json' }, errorBody('BLOB_UPLOAD_UNKNOWN', 'upload unknown'));
      parts.push(...chunks);
      const size = parts.reduce((n, b) => n + b.length, 0);
      if (req.method === 'PATCH') return send(202, { Location: `/v2/${m[1]}/blobs/uploads/${id}`, Range: `0-${Math.max(0, size - 1)}` });
      if (req.method === 'PUT') return send(201, { Location: `/v2/${m[1]}/blobs/${new URL(req.url ?? '', 'http://x').searchParams.get('digest')}` });
    }
    return send(404, { 'Content-Type': 'application/json' }, errorBody('UNSUPPORTED', 'not supported by the fault server'));
  };

  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const rec: RecordedRequest = { method: req.method ?? 'GET', path, status: 0 };
    if (typeof req.headers.range === 'string') rec.range = req.headers.range;
    requests.push(rec);
    handle(req, res, rec).catch((e: unknown) => {
      rec.status = 599;
      if (!res.headersSent) res.writeHead(500);
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    tokensIssued: () => tokensIssued,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The user-facing error of a failed command: exactly one `coracle: ...` line,
 * last on stderr, and no stack-trace lines anywhere. Returns that line.
 */
export function oneLineError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trimEnd()).filter((l) => l.length > 0);
  const stack = lines.filter((l) => /^\s+at /.test(l));
  if (stack.length > 0) throw new Error(`stderr has a stack trace:\n${stderr}`);
  const errors = lines.filter((l) => /^coracle: /.test(l));
  if (errors.length !== 1) throw new Error(`expected exactly one "coracle: ..." error line, got ${errors.length}:\n${stderr}`);
  if (lines[lines.length - 1] !== errors[0]) throw new Error(`the error is not the last line of stderr:\n${stderr}`);
  return errors[0];
}

import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { socketGet } from './socket-get.js';
import { registryIdleTimeoutMs, stalledError } from './transport.js';

/**
 * GET and HEAD over node:http(s) with the body left as the IncomingMessage:
 * what the registry client uses by default for requests without a body
 * (manifests, blobs). Reading a large body through fetch costs a copy of
 * every chunk and web-stream promises per chunk, and the first fetch loads
 * and compiles undici and its HTTP parser; this path reads the socket's
 * buffers as Node hands them over.
 */
export interface RawResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: URL;
  /** An IncomingMessage, or with `pushBody` over http: a SocketBody (also a PushSource). */
  body: Readable;
}

export interface RawRequestOptions {
  /**
   * The body will be pushed into a sink (a blob into the store): over plain
   * http it is read from its own socket into one reused buffer (socket-get.ts).
   */
  pushBody?: boolean;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

type Head = { statusCode?: number | undefined; statusMessage?: string | undefined; headers: IncomingHttpHeaders; body: Readable };

async function once(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, opts: RawRequestOptions): Promise<Head> {
  if (opts.pushBody && method === 'GET' && url.protocol === 'http:') {
    const r = await socketGet(method, url, headers);
    return { statusCode: r.status, statusMessage: r.statusText, headers: r.headers, body: r.body };
  }
  const res = await nodeRequest(method, url, headers);
  return { statusCode: res.statusCode, statusMessage: res.statusMessage, headers: res.headers, body: res };
}

async function nodeRequest(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>): Promise<IncomingMessage> {
  // node:https (and tls under it) loads only when a registry speaks it: a pull
  // from a plain-HTTP registry never pays for compiling them.
  const request = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    const req = request(url, { method, headers }, (r) => {
      response = r;
      resolve(r);
    });
    // Idle bound for the headers and the body alike (the socket's timeout);
    // the body fails with this error, not a bare "aborted".
    const idle = registryIdleTimeoutMs();
    req.setTimeout(idle, () => {
      const err = stalledError(idle);
      if (response) response.destroy(err);
      req.destroy(err);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * GET or HEAD `url`, following redirects (blob downloads are often sent to a
 * CDN); the Authorization header goes only to the origin it was issued for.
 */
export async function rawRequest(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, opts: RawRequestOptions = {}): Promise<RawResponse> {
  let current = url;
  let sent = headers;
  for (let hops = 0; ; hops++) {
    const res = await once(method, current, sent, opts);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (!REDIRECTS.has(status) || !location || hops >= MAX_REDIRECTS) {
      return { status, statusText: res.statusMessage ?? '', headers: res.headers, url: current, body: res.body };
    }
    res.body.resume();
    const next = new URL(location, current);
    if (next.origin !== current.origin && 'authorization' in sent) {
      const { authorization: _dropped, ...rest } = sent;
      sent = rest;
    }
    current = next;
  }
}

/** Header value as a string (the first one of a repeated header). */
export function rawHeader(res: RawResponse, name: string): string | null {
  const v = res.headers[name.toLowerCase()];
  if (v === undefined) return null;
  return Array.isArray(v) ? (v[0] ?? null) : v;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/** The whole (error) response as a fetch Response, for code that reads errors and challenges from one. */
export async function rawToResponse(res: RawResponse): Promise<Response> {
  const parts: Buffer[] = [];
  for await (const c of res.body) parts.push(c as Buffer);
  const headers = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) headers.append(k, one);
  }
  const status = res.status >= 200 && res.status <= 599 ? res.status : 502;
  return new Response(NULL_BODY.has(status) ? null : Buffer.concat(parts), { status, statusText: res.statusText, headers });
}

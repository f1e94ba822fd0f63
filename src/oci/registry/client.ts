import { Readable } from 'node:stream';
import { sha256Digest } from '../digest.js';
import { MANIFEST_ACCEPT, MediaType, type Descriptor, type Digest, type Manifest } from '../types.js';
import { RegistryAuth, TokenCache, sharedTokenCache } from './auth.js';
import { normaliseScopes, repositoryScope } from './challenge.js';
import { type CredentialSource, dockerCredentials } from './credentials.js';
import { registryEndpoint } from './endpoint.js';
import { parseContentRange, rangeFrom, rangeMismatch } from './content-range.js';
import { DigestMismatchError, RegistryError, describeErrorBody, describeNetworkError, isRetryableNetworkError, networkErrorCode } from './errors.js';
import { rawHeader, rawRequest, rawToResponse, type RawRequestOptions, type RawResponse } from './raw-request.js';
import { DEFAULT_RETRY, type FetchLike, type RetryPolicy, fetchWithRetry, withRetry } from './transport.js';

export interface RegistryClientOptions {
  /** Registry host[:port] as written in references (`docker.io`, `localhost:5000`). */
  registry: string;
  /** Base URL to talk to instead (a mirror), e.g. `http://127.0.0.1:5000`; may carry a path prefix. */
  endpoint?: string;
  /** Plain HTTP for this (non-loopback) registry: `true`, or a list of insecure hosts. */
  insecure?: boolean | readonly string[];
  /** Where credentials come from; default docker's config.json and helpers. */
  credentials?: CredentialSource;
  tokenCache?: TokenCache;
  /** Scopes every token should also carry (e.g. pull on a mount source). */
  scopes?: string[];
  retry?: Partial<RetryPolicy>;
  fetch?: FetchLike;
  userAgent?: string;
  /** Told about each retry (for progress output). */
  onRetry?: (why: string, delayMs: number) => void;
}

export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  manifest: Manifest;
}

export interface BlobPushOptions {
  /** Repository in the same registry to mount the blob from. */
  mountFrom?: string;
  /** Blobs larger than this go up in chunks (PATCH); default 32 MiB. */
  chunkThreshold?: number;
  /** Chunk size for chunked uploads; default 16 MiB. */
  chunkSize?: number;
  onBytes?: (n: number) => void;
}

export type BlobPushResult = 'exists' | 'mounted' | 'uploaded';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const DEFAULT_CHUNK_THRESHOLD = 32 * 1024 * 1024;
const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;

function isDigest(reference: string): boolean {
  return /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(reference) && reference.includes(':');
}

/** The media type a manifest declares, or what its shape says it is. */
export function manifestMediaType(contentType: string | null, m: Manifest): string {
  const ct = contentType?.split(';')[0]?.trim();
  if (ct && ct !== 'application/json' && ct !== 'text/plain' && ct !== 'application/octet-stream') return ct;
  if (m.mediaType) return m.mediaType;
  return 'manifests' in m ? MediaType.OciIndex : MediaType.OciManifest;
}

/**
 * A client for one registry (or one mirror of it) speaking the OCI
 * distribution API over the built-in fetch. Every manifest and blob digest
 * it hands out has been checked against what was asked for.
 */
export class RegistryClient {
  readonly registry: string;
  /** Base URL requests go to. */
  readonly endpoint: string;
  /** host[:port] of the endpoint, for messages. */
  readonly host: string;
  private readonly auth: RegistryAuth;
  private readonly fetchFn: FetchLike;
  private readonly retry: RetryPolicy;
  private readonly scopes: string[];
  private readonly userAgent: string;
  private readonly onRetry: ((why: string, delayMs: number) => void) | undefined;
  /** Body-less requests (manifests, blobs) over node:http(s) rather than fetch: only with the default transport (tests inject fetch). */
  private readonly raw: boolean;

  constructor(opts: RegistryClientOptions) {
    this.registry = opts.registry;
    this.endpoint = (opts.endpoint ?? registryEndpoint(opts.registry, opts.insecure ?? false)).replace(/\/+$/, '');
    const url = new URL(this.endpoint);
    this.host = url.host;
    this.fetchFn = opts.fetch ?? ((u, i) => fetch(u, i));
    this.raw = opts.fetch === undefined;
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
    this.scopes = opts.scopes ?? [];
    this.userAgent = opts.userAgent ?? 'coracle/0.1';
    this.onRetry = opts.onRetry;
    this.auth = new RegistryAuth({
      host: this.host,
      credentialKey: opts.endpoint ? this.host : opts.registry,
      credentials: opts.credentials ?? dockerCredentials(),
      tokens: opts.tokenCache ?? sharedTokenCache,
      fetch: this.fetchFn,
      retry: this.retry,
      userAgent: this.userAgent,
    });
  }

  private url(path: string): URL {
    return new URL(`${this.endpoint}${path}`);
  }

  /**
   * Send one request: authorization up front when the scheme is known, one
   * re-authorization on 401, retries inside. Returns the final response.
   */
  private async send(
    method: string,
    url: URL,
    scope: string | undefined,
    opts: { headers?: Record<string, string>; body?: () => RequestInit['body']; redirect?: 'follow' | 'manual' | 'error' } = {},
  ): Promise<Response> {
    const scopes = normaliseScopes([...this.scopes, ...(scope ? [scope] : [])]);
    let authorization = await this.auth.header(scopes);
    for (let reauthorized = false; ; reauthorized = true) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...opts.headers };
      if (authorization) headers.authorization = authorization;
      const res = await fetchWithRetry(
        this.fetchFn,
        url,
        () => {
          const body = opts.body?.();
          const init: RequestInit & { duplex?: 'half' } = { method, headers, redirect: opts.redirect ?? 'follow' };
          if (body !== undefined) {
            init.body = body;
            if (body instanceof ReadableStream) init.duplex = 'half';
          }
          return init;
        },
        this.retry,
        this.onRetry,
      );
      if (res.status !== 401) return res;
      if (reauthorized) throw await this.auth.unauthorized(res);
      await res.body?.cancel().catch(() => {});
      authorization = await this.auth.refresh(res, scopes, authorization);
    }
  }

  /**
   * A request without a body (HEAD, GET) as an Answer: over node:http(s)
   * with the default transport, else through the fetch given. Same
   * authorization, 401 handling and retries either way.
   */
  private async request(method: 'GET' | 'HEAD', url: URL, scope: string, headers: Record<string, string> = {}, raw: RawRequestOptions = {}): Promise<Answer> {
    if (!this.raw) return fetchAnswer(await this.send(method, url, scope, { headers }));
    const scopes = normaliseScopes([...this.scopes, scope]);
    let authorization = await this.auth.header(scopes);
    for (let reauthorized = false; ; reauthorized = true) {
      const sent: Record<string, string> = { 'user-agent': this.userAgent, ...headers };
      if (authorization) sent.authorization = authorization;
      const res = await withRetry(
        () => rawRequest(method, url, sent, raw),
        (r) => ({ status: r.status, retryAfter: rawHeader(r, 'retry-after'), discard: async () => void r.body.destroy() }),
        url,
        this.retry,
        this.onRetry,
      );
      if (res.status !== 401) return rawAnswer(res);
      const challenge = await rawToResponse(res);
      if (reauthorized) throw await this.auth.unauthorized(challenge);
      authorization = await this.auth.refresh(challenge, scopes, authorization);
    }
  }

  /** A RegistryError for an unexpected response; consumes its body. */
  private async failure(res: Response, what: string, notFound?: string): Promise<RegistryError> {
    const body = await res.text().catch(() => '');
    const { code, text } = describeErrorBody(body);
    let cause = text;
    if (res.status === 404) cause ??= notFound ?? `${what} not found`;
    else if (res.status === 403) cause = `403 denied: ${text ?? `access to ${what} denied`}`;
    else if (res.status === 429) cause = `too many requests${text ? `: ${text}` : ''}`;
    cause ??= res.statusText ? res.statusText.toLowerCase() : `${what} failed`;
    return new RegistryError(`${cause} (registry ${this.host} answered ${res.status})`, {
      registry: this.host,
      status: res.status,
      ...(code ? { code } : {}),
    });
  }

  /** GET /v2/: is this a registry, and which authentication does it want? */
  async ping(): Promise<void> {
    const res = await fetchWithRetry(this.fetchFn, this.url('/v2/'), () => ({ headers: { 'user-agent': this.userAgent } }), this.retry, this.onRetry);
    if (res.status === 401) {
      this.auth.learn(res.headers.get('www-authenticate'));
      await res.body?.cancel().catch(() => {});
      return;
    }
    if (!res.ok) throw await this.failure(res, 'the API version check', `not a registry: no /v2/ API`);
    await res.body?.cancel().catch(() => {});
  }

  /** HEAD a manifest: its descriptor, or undefined when the registry does not have it. */
  async headManifest(repository: string, reference: string): Promise<Descriptor | undefined> {
    const res = await this.request('HEAD', this.url(`/v2/${repository}/manifests/${reference}`), repositoryScope(repository, 'pull'), {
      accept: MANIFEST_ACCEPT.join(', '),
    });
    if (res.status === 404) {
      await res.discard();
      return undefined;
    }
    if (!res.ok) throw await this.failure(await res.response(), `manifest ${repository}:${reference}`, 'manifest unknown');
    await res.discard();
    const digest = res.header('docker-content-digest');
    const size = Number(res.header('content-length') ?? NaN);
    const mediaType = res.header('content-type')?.split(';')[0]?.trim();
    if (!digest || !Number.isFinite(size) || !mediaType || mediaType === 'application/json') {
      // Not enough in the headers: the body tells us.
      const m = await this.getManifest(repository, reference);
      return m.descriptor;
    }
    if (isDigest(reference) && digest !== reference) {
      throw new DigestMismatchError(`manifest ${reference}: registry ${this.host} says its digest is ${digest}`);
    }
    return { mediaType, digest, size };
  }

  /** GET a manifest with the full Accept list; its digest is verified (header and content). */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const url = this.url(`/v2/${repository}/manifests/${reference}`);
    let res: Answer;
    let bytes: Buffer;
    // A body cut or stalled (idle timeout) is asked for again, as a failed connection is.
    for (let attempt = 0; ; attempt++) {
      res = await this.request('GET', url, repositoryScope(repository, 'pull'), { accept: MANIFEST_ACCEPT.join(', ') });
      if (!res.ok) throw await this.failure(await res.response(), `manifest ${repository}:${reference}`, 'manifest unknown');
      try {
        bytes = await res.bytes();
        break;
      } catch (e) {
        if (attempt >= this.retry.retries || !isRetryableNetworkError(e)) {
          const why = describeNetworkError(e, url).message.replace(/^cannot connect to /, '');
          throw new RegistryError(`manifest ${repository}:${reference}: reading the body failed: ${why}`, { registry: this.host, cause: e });
        }
        this.onRetry?.(`manifest ${repository}:${reference}: body lost (${networkErrorCode(e) ?? 'error'})`, 0);
      }
    }
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw new RegistryError(`manifest ${reference} is larger than ${MAX_MANIFEST_BYTES} bytes (registry ${this.host})`, { registry: this.host });
    }
    const computed = sha256Digest(bytes);
    const header = res.header('docker-content-digest');
    if (isDigest(reference) && reference.startsWith('sha256:') && computed !== reference) {
      throw new DigestMismatchError(`manifest ${reference}: content from ${this.host} hashes to ${computed}`);
    }
    if (header && header.startsWith('sha256:') && header !== computed) {
      throw new DigestMismatchError(`manifest ${repository}:${reference}: registry ${this.host} sent digest ${header} but the content hashes to ${computed}`);
    }
    let manifest: Manifest;
    try {
      manifest = JSON.parse(bytes.toString('utf8')) as Manifest;
    } catch {
      throw new RegistryError(`manifest ${repository}:${reference} from ${this.host} is not JSON`, { registry: this.host });
    }
    if (typeof manifest !== 'object' || manifest === null || (manifest as { schemaVersion?: unknown }).schemaVersion !== 2) {
      throw new RegistryError(`manifest ${repository}:${reference} from ${this.host} is not an OCI/Docker v2 manifest (schemaVersion 2)`, {
        registry: this.host,
      });
    }
    const mediaType = manifestMediaType(res.header('content-type'), manifest);
    return { descriptor: { mediaType, digest: computed, size: bytes.length }, bytes, manifest };
  }

  /**
   * GET a blob as a stream. The Docker-Content-Digest header and length are
   * checked here; the bytes themselves must be verified by whoever consumes
   * the stream (the store does). With `offset`, only the bytes from there
   * are asked for (`Range: bytes=N-`, to resume a download): `from` says
   * where the stream starts, `offset` for a 206 that continues the blob, 0
   * when the registry sent all of it (a 200, or after a 416 or a 206 for
   * other bytes, asked again without Range), with `restart` saying why.
   */
  async fetchBlob(
    repository: string,
    desc: Pick<Descriptor, 'digest' | 'size'>,
    opts: { offset?: number } = {},
  ): Promise<{ stream: Readable; size: number | undefined; from: number; restart?: string }> {
    const offset = opts.offset ?? 0;
    const url = this.url(`/v2/${repository}/blobs/${desc.digest}`);
    const headers: Record<string, string> = offset > 0 ? { range: rangeFrom(offset) } : {};
    // The store takes the body as a push source when it can (one reused read buffer, see socket-get.ts).
    const res = await this.request('GET', url, repositoryScope(repository, 'pull'), headers, { pushBody: true });
    if (offset > 0 && res.status === 416) {
      await res.discard();
      return { ...(await this.fetchBlob(repository, desc)), restart: `the registry refused the range from byte ${offset} (416)` };
    }
    if (!res.ok) throw await this.failure(await res.response(), `blob ${desc.digest}`, `blob unknown ${desc.digest}`);
    const header = res.header('docker-content-digest');
    if (header && header !== desc.digest) {
      res.abort();
      throw new DigestMismatchError(`blob ${desc.digest}: registry ${this.host} sent ${header} instead`);
    }
    let from = 0;
    let restart: string | undefined;
    if (res.status === 206) {
      const raw = res.header('content-range');
      const wrong = offset > 0 ? rangeMismatch(parseContentRange(raw), raw, offset, desc.size) : '206 to a request without Range';
      if (wrong) {
        res.abort();
        if (offset === 0) throw new RegistryError(`blob ${desc.digest}: registry ${this.host} answered ${wrong}`, { registry: this.host, status: 206 });
        return { ...(await this.fetchBlob(repository, desc)), restart: `the registry answered ${wrong}` };
      }
      from = offset;
    } else if (offset > 0) {
      restart = `the registry answered ${res.status} to a Range request`;
    }
    const lengthHeader = res.header('content-length');
    const size = lengthHeader !== null ? Number(lengthHeader) : undefined;
    const expected = desc.size !== undefined ? desc.size - from : undefined;
    if (size !== undefined && expected !== undefined && size !== expected) {
      res.abort();
      const what = from > 0 ? `bytes ${from}- of a blob of ${desc.size} bytes` : `bytes, expected ${desc.size}`;
      throw new DigestMismatchError(`blob ${desc.digest}: registry ${this.host} sent ${size} ${what}`);
    }
    const stream = res.stream(size);
    if (!stream) throw new RegistryError(`blob ${desc.digest}: registry ${this.host} sent no body`, { registry: this.host });
    return { stream, size, from, ...(restart ? { restart } : {}) };
  }

  /** GET a whole (small) blob, verified. */
  async getBlob(repository: string, desc: Pick<Descriptor, 'digest' | 'size'>): Promise<Buffer> {
    const { stream } = await this.fetchBlob(repository, desc);
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c as Buffer);
    const bytes = Buffer.concat(parts);
    const computed = sha256Digest(bytes);
    if (computed !== desc.digest) throw new DigestMismatchError(`blob ${desc.digest}: content from ${this.host} hashes to ${computed}`);
    return bytes;
  }

  /** HEAD a blob: its size when the repository has it. */
  async blobSize(repository: string, digest: Digest, scope: 'pull' | 'pull,push' = 'pull'): Promise<number | undefined> {
    const res = await this.send('HEAD', this.url(`/v2/${repository}/blobs/${digest}`), repositoryScope(repository, scope));
    if (res.status === 404) return undefined;
    if (!res.ok) throw await this.failure(res, `blob ${digest}`);
    const n = Number(res.headers.get('content-length'));
    return Number.isFinite(n) ? n : 0;
  }

  private location(res: Response, base: URL): URL {
    const loc = res.headers.get('location');
    if (!loc) throw new RegistryError(`registry ${this.host} started an upload without a Location`, { registry: this.host });
    return new URL(loc, base);
  }

  /** Try a cross-repository mount; returns true when mounted, else the upload it started. */
  async mountBlob(repository: string, digest: Digest, from: string): Promise<true | URL> {
    const url = this.url(`/v2/${repository}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
    const res = await this.send('POST', url, repositoryScope(repository, 'pull,push'), {
      headers: { 'content-length': '0' },
      body: () => '',
    });
    if (res.status === 201) {
      await res.body?.cancel().catch(() => {});
      return true;
    }
    if (res.status === 202) {
      await res.body?.cancel().catch(() => {});
      return this.location(res, url);
    }
    throw await this.failure(res, `mount of ${digest} from ${from}`);
  }

  /** POST a new upload session; returns its location. */
  async startUpload(repository: string): Promise<URL> {
    const url = this.url(`/v2/${repository}/blobs/uploads/`);
    const res = await this.send('POST', url, repositoryScope(repository, 'pull,push'), {
      headers: { 'content-length': '0' },
      body: () => '',
    });
    if (res.status !== 202) throw await this.failure(res, `upload to ${repository}`);
    await res.body?.cancel().catch(() => {});
    return this.location(res, url);
  }

  private async finishUpload(repository: string, location: URL, digest: Digest, data: Buffer | undefined): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const res = await this.send('PUT', url, repositoryScope(repository, 'pull,push'), {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(data?.length ?? 0) },
      body: () => data ?? '',
    });
    if (res.status !== 201) {
      const err = await this.failure(res, `upload of ${digest}`);
      if (err.code === 'DIGEST_INVALID') throw new DigestMismatchError(`blob ${digest}: registry ${this.host} says the uploaded bytes do not match`);
      throw err;
    }
    await res.body?.cancel().catch(() => {});
  }

  /** Monolithic upload: the whole blob in the closing PUT. */
  async uploadMonolithic(repository: string, location: URL, digest: Digest, data: Buffer): Promise<void> {
    await this.finishUpload(repository, location, digest, data);
  }

  /** Chunked upload: PATCH each chunk with its Content-Range, then PUT the digest. */
  async uploadChunked(
    repository: string,
    location: URL,
    digest: Digest,
    chunks: AsyncIterable<Buffer>,
    onBytes?: (n: number) => void,
  ): Promise<void> {
    let loc = location;
    let offset = 0;
    for await (const chunk of chunks) {
      if (chunk.length === 0) continue;
      const end = offset + chunk.length - 1;
      const res = await this.send('PATCH', loc, repositoryScope(repository, 'pull,push'), {
        headers: {
          'content-type': 'application/octet-stream',
          'content-range': `${offset}-${end}`,
          'content-length': String(chunk.length),
        },
        body: () => chunk,
      });
      if (res.status !== 202) throw await this.failure(res, `chunk ${offset}-${end} of ${digest}`);
      await res.body?.cancel().catch(() => {});
      loc = this.location(res, loc);
      offset = end + 1;
      onBytes?.(chunk.length);
    }
    await this.finishUpload(repository, loc, digest, undefined);
  }

  /**
   * Push one blob: nothing when the repository has it, a mount when another
   * repository of this registry has it, else a monolithic or chunked upload.
   */
  async pushBlob(
    repository: string,
    desc: Pick<Descriptor, 'digest' | 'size'>,
    open: () => AsyncIterable<Buffer | Uint8Array>,
    opts: BlobPushOptions = {},
  ): Promise<BlobPushResult> {
    if ((await this.blobSize(repository, desc.digest, 'pull,push')) !== undefined) return 'exists';
    let location: URL | undefined;
    if (opts.mountFrom && opts.mountFrom !== repository) {
      const m = await this.mountBlob(repository, desc.digest, opts.mountFrom);
      if (m === true) return 'mounted';
      location = m;
    }
    location ??= await this.startUpload(repository);
    const threshold = opts.chunkThreshold ?? DEFAULT_CHUNK_THRESHOLD;
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (desc.size > threshold) {
      await this.uploadChunked(repository, location, desc.digest, rechunk(open(), chunkSize), opts.onBytes);
    } else {
      const parts: Buffer[] = [];
      for await (const c of open()) parts.push(Buffer.from(c));
      const data = Buffer.concat(parts);
      await this.uploadMonolithic(repository, location, desc.digest, data);
      opts.onBytes?.(data.length);
    }
    return 'uploaded';
  }

  /** PUT a manifest under a tag or its digest; returns the digest the registry reports (checked). */
  async putManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<Digest> {
    const digest = sha256Digest(bytes);
    const res = await this.send('PUT', this.url(`/v2/${repository}/manifests/${reference}`), repositoryScope(repository, 'pull,push'), {
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: () => bytes,
    });
    if (res.status !== 201 && res.status !== 200) throw await this.failure(res, `manifest ${repository}:${reference}`);
    await res.body?.cancel().catch(() => {});
    const header = res.headers.get('docker-content-digest');
    if (header && header !== digest) {
      throw new DigestMismatchError(`manifest ${repository}:${reference}: registry ${this.host} stored it as ${header}, expected ${digest}`);
    }
    return digest;
  }

  /** Tags of a repository (GET /v2/NAME/tags/list, following Link pagination). */
  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let url: URL | undefined = this.url(`/v2/${repository}/tags/list`);
    while (url) {
      const res: Response = await this.send('GET', url, repositoryScope(repository, 'pull'));
      if (!res.ok) throw await this.failure(res, `tags of ${repository}`, 'repository unknown');
      const body = (await res.json()) as { tags?: string[] | null };
      tags.push(...(body.tags ?? []));
      const link = res.headers.get('link');
      const next = link ? /<([^>]+)>;\s*rel="?next"?/.exec(link)?.[1] : undefined;
      url = next ? new URL(next, url) : undefined;
    }
    return tags;
  }
}

/** What the client reads of an answer to a body-less request, whichever transport carried it. */
interface Answer {
  status: number;
  ok: boolean;
  header(name: string): string | null;
  /** The whole body. */
  bytes(): Promise<Buffer>;
  /** The body as a stream; `length` (Content-Length) is enforced. */
  stream(length?: number): Readable | undefined;
  /** Throw a (small) body away, keeping the connection for the next request. */
  discard(): Promise<void>;
  /** Stop a body that is not wanted (a blob refused on its headers). */
  abort(): void;
  /** As a fetch Response (for error bodies and auth challenges); consumes the body. */
  response(): Promise<Response>;
}

function fetchAnswer(res: Response): Answer {
  return {
    status: res.status,
    ok: res.ok,
    header: (name) => res.headers.get(name),
    bytes: async () => Buffer.from(await res.arrayBuffer()),
    stream: (length) => (res.body ? Readable.from(readBody(res.body, length), { objectMode: false }) : undefined),
    discard: async () => {
      await res.body?.cancel().catch(() => {});
    },
    abort: () => void res.body?.cancel().catch(() => {}),
    response: async () => res,
  };
}

function rawAnswer(res: RawResponse): Answer {
  return {
    status: res.status,
    ok: res.status >= 200 && res.status <= 299,
    header: (name) => rawHeader(res, name),
    bytes: async () => {
      const parts: Buffer[] = [];
      for await (const c of res.body) parts.push(c as Buffer);
      return Buffer.concat(parts);
    },
    // Node fails the body with ECONNRESET ("aborted") when the connection ends before Content-Length.
    stream: () => res.body,
    discard: async () => {
      res.body.resume();
    },
    abort: () => void res.body.destroy(),
    response: () => rawToResponse(res),
  };
}

/**
 * A response body as an async iterable: a connection lost mid-body surfaces
 * as the consumer's error (no stray 'error' event), and stopping early
 * cancels the download. A body that ends before its Content-Length (fetch
 * can report a cut connection as a clean end) is a lost connection too, so
 * callers retry it rather than blame the content.
 */
async function* readBody(body: ReadableStream<Uint8Array>, length?: number): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  let finished = false;
  let got = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        if (length !== undefined && got < length) {
          throw Object.assign(new Error(`the body ended after ${got} of ${length} bytes`), { code: 'UND_ERR_SOCKET' });
        }
        return;
      }
      got += value.length;
      yield value;
    }
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

/** Regroup a byte stream into chunks of exactly `size` (the last may be shorter). */
export async function* rechunk(source: AsyncIterable<Buffer | Uint8Array>, size: number): AsyncIterable<Buffer> {
  let pending: Buffer[] = [];
  let pendingLen = 0;
  for await (const piece of source) {
    let buf = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (buf.length > 0) {
      const take = Math.min(size - pendingLen, buf.length);
      pending.push(buf.subarray(0, take));
      pendingLen += take;
      buf = buf.subarray(take);
      if (pendingLen === size) {
        yield Buffer.concat(pending);
        pending = [];
        pendingLen = 0;
      }
    }
  }
  if (pendingLen > 0) yield Buffer.concat(pending);
}

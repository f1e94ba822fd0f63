import { connect, type Socket } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { ChunkSink, PushSource } from '../store/push-source.js';
import { registryIdleTimeoutMs, stalledError } from './transport.js';

/**
 * A plain-HTTP/1.1 GET for blob bodies that reads the socket into one reused
 * buffer (net's `onread`) and hands each read straight to a ChunkSink: no
 * buffer allocated per read, no HTTP parser copy, no stream machinery per
 * chunk. On this machine that halves the CPU a 100 MB download costs the
 * reading thread. The body is also an ordinary Readable (copies) for
 * consumers that are not sinks: error bodies, redirects, tests.
 *
 * Only for `http:` URLs; the response is framed by Content-Length, chunked
 * transfer-encoding, or the end of the connection (`Connection: close` is
 * sent: one connection per blob, as blobs are downloaded in parallel anyway).
 */
export interface SocketResponse {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  body: SocketBody;
}

/** Size of the reused read buffer (the kernel hands over at most this much per read). */
const READ_BUFFER = 256 << 10;
const MAX_HEADER_BYTES = 64 << 10;

function lostConnection(message: string): Error {
  return Object.assign(new Error(message), { code: 'ECONNRESET' });
}

function protocolError(message: string): Error {
  return Object.assign(new Error(`bad HTTP response: ${message}`), { code: 'EPROTO_HTTP' });
}

type Framing = { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

/** Chunked transfer-encoding, decoded incrementally. */
class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' = 'size';
  private line = '';
  private left = 0;

  get done(): boolean {
    return this.state === 'done';
  }

  /** Feed raw bytes; `emit` gets body pieces. Returns bytes consumed (all unless the body ended). */
  feed(buf: Uint8Array, emit: (piece: Uint8Array) => void): number {
    let i = 0;
    while (i < buf.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, buf.length - i);
        emit(buf.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = 'data-crlf';
        continue;
      }
      // line-oriented states: read up to LF
      const lf = buf.indexOf(10, i);
      const end = lf < 0 ? buf.length : lf;
      this.line += Buffer.from(buf.buffer, buf.byteOffset + i, end - i).toString('latin1');
      if (this.line.length > 4096) throw protocolError('chunk header too long');
      i = lf < 0 ? buf.length : lf + 1;
      if (lf < 0) break;
      const line = this.line.replace(/\r$/, '');
      this.line = '';
      if (this.state === 'size') {
        const size = Number.parseInt(line.split(';')[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw protocolError(`chunk size "${line}"`);
        if (size === 0) this.state = 'trailer';
        else {
          this.left = size;
          this.state = 'data';
        }
      } else if (this.state === 'data-crlf') {
        if (line !== '') throw protocolError('no CRLF after a chunk');
        this.state = 'size';
      } else if (line === '') {
        this.state = 'done';
      }
    }
    return i;
  }
}

/**
 * A response body read from the socket. Either `pushTo(sink)` (fast, one
 * reused buffer) or read it as a stream; whichever comes first decides.
 */
export class SocketBody extends Readable implements PushSource {
  private mode: 'undecided' | 'sink' | 'stream' = 'undecided';
  private sink: ChunkSink | undefined;
  private pending: Buffer[] = [];
  private framing: Framing = { kind: 'close' };
  private chunked: ChunkedDecoder | undefined;
  private finished = false;
  private failure: Error | undefined;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  /** Body bytes delivered so far (for messages). */
  private got = 0;
  /** Memory the sink lent for the read in progress (see ChunkSink.space). */
  private lent: Uint8Array | undefined;

  constructor(private readonly socket: Socket) {
    super({ highWaterMark: 1 << 20 });
    // A body only discarded (resume()) or dropped may still fail: that must
    // not be an uncaught 'error'. Readers (for-await, pipeline) see it anyway.
    this.on('error', () => undefined);
  }

  /** Whether a sink reads this body (else a stream, or nobody yet). */
  get pushing(): boolean {
    return this.mode === 'sink';
  }

  /** @internal Called by socketGet once the headers are in. */
  frame(framing: Framing): void {
    this.framing = framing;
    if (framing.kind === 'chunked') this.chunked = new ChunkedDecoder();
    if (framing.kind === 'none' || (framing.kind === 'length' && framing.left === 0)) this.complete();
  }

  /** @internal Raw bytes after the headers; false asks the socket to pause. */
  data(buf: Uint8Array): boolean {
    if (this.finished) return true;
    let ok = true;
    const emit = (piece: Uint8Array): void => {
      if (piece.length === 0) return;
      this.got += piece.length;
      if (!this.deliver(piece)) ok = false;
    };
    const f = this.framing;
    if (f.kind === 'length') {
      const n = Math.min(f.left, buf.length);
      f.left -= n;
      emit(n === buf.length ? buf : buf.subarray(0, n));
      if (f.left === 0) this.complete();
    } else if (f.kind === 'chunked') {
      this.chunked!.feed(buf, emit);
      if (this.chunked!.done) this.complete();
    } else if (f.kind === 'close') {
      emit(buf);
    }
    return ok;
  }

  /**
   * @internal Where the socket reads next: memory the sink lends when it
   * can take bytes in place (a body framed by length or by the connection's
   * end; chunked bodies interleave framing and are copied), else `scratch`.
   */
  nextReadBuffer(scratch: Uint8Array): Uint8Array {
    this.lent = undefined;
    const sink = this.sink;
    const f = this.framing;
    if (this.mode !== 'sink' || this.finished || !sink?.space || (f.kind !== 'length' && f.kind !== 'close')) return scratch;
    const max = f.kind === 'length' ? Math.min(f.left, scratch.length) : scratch.length;
    if (max <= 0) return scratch;
    let b: Uint8Array | undefined;
    try {
      b = sink.space(max);
    } catch (e) {
      // Called from the socket's read loop: fail the body, never throw there.
      this.abortWith(e);
      return scratch;
    }
    if (!b || b.length === 0) return scratch;
    this.lent = b;
    return b;
  }

  /** @internal Whether `buf` is the sink's lent memory. */
  isLent(buf: Uint8Array): boolean {
    return this.lent !== undefined && buf === this.lent;
  }

  /** @internal `n` bytes of body landed in the lent memory; false asks the socket to pause. */
  filledLent(n: number): boolean {
    if (this.finished) return true;
    this.lent = undefined;
    const f = this.framing;
    if (f.kind === 'length') f.left -= n;
    this.got += n;
    const ok = this.sink!.filled!(n);
    if (f.kind === 'length' && f.left === 0) this.complete();
    return ok;
  }

  /** @internal The connection ended (EOF) or failed. */
  connectionEnded(err?: Error): void {
    if (this.finished) return;
    if (!err && this.framing.kind === 'close') {
      this.complete();
      return;
    }
    const left = this.framing.kind === 'length' ? ` (${this.framing.left} bytes missing)` : '';
    this.fail(err ?? lostConnection(`the connection closed after ${this.got} bytes of the body${left}`));
  }

  private deliver(piece: Uint8Array): boolean {
    if (this.mode === 'sink') return this.sink!.write(piece);
    // The socket reuses its buffer: streams and the undecided state get copies.
    const copy = Buffer.from(piece);
    if (this.mode === 'stream') return this.push(copy);
    this.pending.push(copy);
    return false;
  }

  private complete(): void {
    if (this.finished) return;
    this.finished = true;
    this.socket.destroy();
    if (this.mode === 'sink') this.settle?.resolve();
    else if (this.mode === 'stream') this.push(null);
  }

  private fail(e: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.failure = e;
    this.socket.destroy();
    if (this.mode === 'sink') this.settle?.reject(e);
    else if (this.mode === 'stream') this.destroy(e);
  }

  /** @internal A sink threw: stop reading and fail with that error. */
  abortWith(e: unknown): void {
    this.fail(e instanceof Error ? e : new Error(String(e)));
  }

  pushTo(sink: ChunkSink): Promise<void> {
    if (this.mode !== 'undecided') return Promise.reject(new Error('response body already being read'));
    this.mode = 'sink';
    this.sink = sink;
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      let ok = true;
      try {
        for (const p of this.pending) if (!sink.write(p)) ok = false;
      } catch (e) {
        this.abortWith(e);
        return;
      }
      this.pending = [];
      if (this.failure) reject(this.failure);
      else if (this.finished) resolve();
      else if (ok) this.socket.resume();
      else this.resumeWhenDrained();
    });
  }

  /** @internal */
  resumeWhenDrained(): void {
    this.sink!.drained().then(
      () => {
        if (!this.finished) this.socket.resume();
      },
      (e: unknown) => this.abortWith(e),
    );
  }

  override _read(): void {
    if (this.mode === 'undecided') {
      this.mode = 'stream';
      for (const p of this.pending) this.push(p);
      this.pending = [];
      if (this.failure) {
        this.destroy(this.failure);
        return;
      }
      if (this.finished) {
        this.push(null);
        return;
      }
    }
    if (!this.finished) this.socket.resume();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    this.finished = true;
    this.socket.destroy();
    if (this.mode === 'sink' && this.settle && !this.failure) this.settle.reject(err ?? lostConnection('the download was stopped'));
    cb(err);
  }
}

function parseHead(text: string): { status: number; statusText: string; headers: IncomingHttpHeaders } {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
  if (!m) throw protocolError(`status line "${(lines[0] ?? '').slice(0, 80)}"`);
  const headers: IncomingHttpHeaders = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw protocolError(`header line "${line.slice(0, 80)}"`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prev = headers[name];
    if (name === 'set-cookie') headers[name] = [...((prev as string[] | undefined) ?? []), value];
    else headers[name] = prev === undefined ? value : `${prev as string}, ${value}`;
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', headers };
}

function framingOf(method: string, status: number, headers: IncomingHttpHeaders): Framing {
  if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) return { kind: 'none' };
  const te = headers['transfer-encoding'];
  if (typeof te === 'string' && te.toLowerCase().split(',').map((s) => s.trim()).includes('chunked')) return { kind: 'chunked' };
  const cl = headers['content-length'];
  if (typeof cl === 'string') {
    const n = Number(cl.split(',')[0]!.trim());
    if (!Number.isSafeInteger(n) || n < 0) throw protocolError(`content-length "${cl}"`);
    return { kind: 'length', left: n };
  }
  return { kind: 'close' };
}

/** GET (or HEAD) `url` (http: only) over a socket of its own; resolves when the headers are in. */
export function socketGet(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>): Promise<SocketResponse> {
  if (url.protocol !== 'http:') return Promise.reject(new Error(`socketGet: not an http: URL: ${url.href}`));
  const port = url.port ? Number(url.port) : 80;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return new Promise<SocketResponse>((resolve, reject) => {
    let head: Buffer | undefined = Buffer.alloc(0);
    let body: SocketBody | undefined;
    const onRead = (n: number, buf: Uint8Array): boolean => {
      let chunk = buf.subarray(0, n);
      if (head !== undefined) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > MAX_HEADER_BYTES) fail(protocolError('headers too large'));
          return true;
        }
        let parsed: ReturnType<typeof parseHead>;
        let framing: Framing;
        try {
          parsed = parseHead(head.subarray(0, end).toString('latin1'));
          framing = framingOf(method, parsed.status, parsed.headers);
        } catch (e) {
          fail(e as Error);
          return false;
        }
        chunk = head.subarray(end + 4);
        head = undefined;
        body = new SocketBody(socket);
        body.frame(framing);
        resolve({ ...parsed, body });
      }
      let ok: boolean;
      try {
        ok = buf !== scratch && body!.isLent(buf) ? body!.filledLent(n) : body!.data(chunk);
      } catch (e) {
        body!.abortWith(e);
        return false;
      }
      // A sink that asks for a pause resumes the socket when it has drained.
      if (!ok && body!.pushing) body!.resumeWhenDrained();
      return ok;
    };
    const scratch = Buffer.allocUnsafe(READ_BUFFER);
    const next = (): Uint8Array => (body ? body.nextReadBuffer(scratch) : scratch);
    const socket = connect({ host, port, onread: { buffer: next, callback: onRead } });
    const fail = (e: Error): void => {
      socket.destroy();
      if (body) body.connectionEnded(e);
      else reject(e);
    };
    socket.on('error', fail);
    // A registry that stops sending (headers or body) fails the download: retried like a lost connection.
    const idle = registryIdleTimeoutMs();
    socket.setTimeout(idle, () => fail(stalledError(idle)));
    socket.on('end', () => (body ? body.connectionEnded() : reject(lostConnection('the connection closed before the response headers'))));
    socket.on('close', () => (body ? body.connectionEnded() : reject(lostConnection('the connection closed before the response headers'))));
    const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    lines.push('connection: close', '', '');
    socket.write(lines.join('\r\n'));
  });
}

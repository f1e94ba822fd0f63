import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { socketGet } from '../../../../src/oci/registry/socket-get.js';
import { rawRequest } from '../../../../src/oci/registry/raw-request.js';
import type { ChunkSink } from '../../../../src/oci/store/push-source.js';

const big = randomBytes(3 * 1024 * 1024 + 123);

let http: HttpServer;
let base: string;
const seen: Array<{ url: string; headers: Record<string, unknown> }> = [];

beforeAll(async () => {
  http = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (req.url === '/big') {
      res.writeHead(200, { 'content-length': big.length, 'content-type': 'application/octet-stream' });
      res.end(big);
    } else if (req.url === '/chunked') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked
      let at = 0;
      const step = (): void => {
        if (at >= big.length) return void res.end();
        const n = Math.min(100_000 + (at % 7), big.length - at);
        res.write(big.subarray(at, at + n));
        at += n;
        setImmediate(step);
      };
      step();
    } else if (req.url === '/redirect') {
      res.writeHead(307, { location: '/big' });
      res.end('moved');
    } else if (req.url === '/missing') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
    } else if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': big.length });
      res.write(big.subarray(0, 200_000), () => res.socket?.destroy());
    } else {
      res.writeHead(500);
      res.end();
    }
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const a = http.address() as { port: number };
  base = `http://127.0.0.1:${a.port}`;
});
afterAll(async () => {
  await new Promise((r) => http.close(r));
});

async function readAll(body: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A sink that lends memory (as the store does) or only takes copies, and can ask for pauses. */
function collectingSink(opts: { lend?: boolean; pauseEvery?: number } = {}): { sink: ChunkSink; bytes: () => Buffer; calls: { write: number; filled: number; paused: number } } {
  const parts: Buffer[] = [];
  const calls = { write: 0, filled: 0, paused: 0 };
  let lent: Uint8Array | undefined;
  let n = 0;
  const pause = (): boolean => {
    n++;
    if (opts.pauseEvery && n % opts.pauseEvery === 0) {
      calls.paused++;
      return false;
    }
    return true;
  };
  const sink: ChunkSink = {
    write(chunk) {
      calls.write++;
      parts.push(Buffer.from(chunk));
      return pause();
    },
    drained: () => new Promise((r) => setTimeout(r, 1)),
  };
  if (opts.lend) {
    sink.space = (max) => {
      lent = new Uint8Array(Math.min(max, 50_000));
      return lent;
    };
    sink.filled = (k) => {
      calls.filled++;
      parts.push(Buffer.from(lent!.subarray(0, k)));
      return pause();
    };
  }
  return { sink, bytes: () => Buffer.concat(parts), calls };
}

describe('socketGet', () => {
  it('reads a Content-Length body as a stream, with the request headers sent', async () => {
    const res = await socketGet('GET', new URL(`${base}/big`), { authorization: 'Bearer t', 'user-agent': 'coracle/test' });
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String(big.length));
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect((await readAll(res.body)).equals(big)).toBe(true);
    const req = seen.at(-1)!;
    expect(req.headers.authorization).toBe('Bearer t');
    expect(req.headers['user-agent']).toBe('coracle/test');
  });

  it('pushes a body into a sink that lends memory, pausing when asked', async () => {
    const res = await socketGet('GET', new URL(`${base}/big`), {});
    const c = collectingSink({ lend: true, pauseEvery: 5 });
    await res.body.pushTo(c.sink);
    expect(c.bytes().equals(big)).toBe(true);
    expect(c.calls.filled).toBeGreaterThan(10); // most bytes landed in lent memory
    expect(c.calls.paused).toBeGreaterThan(0);
  });

  it('pushes a body into a sink that only takes copies', async () => {
    const res = await socketGet('GET', new URL(`${base}/big`), {});
    const c = collectingSink({ pauseEvery: 3 });
    await res.body.pushTo(c.sink);
    expect(c.bytes().equals(big)).toBe(true);
    expect(c.calls.filled).toBe(0);
  });

  it('decodes a chunked body, as a stream and into a lending sink', async () => {
    const a = await socketGet('GET', new URL(`${base}/chunked`), {});
    expect(a.headers['transfer-encoding']).toBe('chunked');
    expect((await readAll(a.body)).equals(big)).toBe(true);
    const b = await socketGet('GET', new URL(`${base}/chunked`), {});
    const c = collectingSink({ lend: true, pauseEvery: 4 });
    await b.body.pushTo(c.sink);
    expect(c.bytes().equals(big)).toBe(true);
    expect(c.calls.filled).toBe(0); // chunk framing is interleaved: copies only
  });

  it('a connection cut before Content-Length is a lost connection (ECONNRESET), in both modes', async () => {
    const a = await socketGet('GET', new URL(`${base}/cut`), {});
    await expect(readAll(a.body)).rejects.toMatchObject({ code: 'ECONNRESET' });
    const b = await socketGet('GET', new URL(`${base}/cut`), {});
    const err = await b.body.pushTo(collectingSink({ lend: true }).sink).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ECONNRESET', message: expect.stringMatching(/closed after \d+ bytes of the body \(\d+ bytes missing\)/) });
  });

  it('a discarded body whose connection is cut fails quietly (no uncaught error)', async () => {
    const res = await socketGet('GET', new URL(`${base}/cut`), {});
    res.body.resume();
    await new Promise<void>((r) => res.body.once('close', () => r()));
    expect(res.body.errored).toMatchObject({ code: 'ECONNRESET' });
  });

  it('a sink that throws stops the download with its error', async () => {
    const res = await socketGet('GET', new URL(`${base}/big`), {});
    let n = 0;
    const sink: ChunkSink = {
      write() {
        if (++n === 3) throw new Error('too many bytes');
        return true;
      },
      drained: () => Promise.resolve(),
    };
    await expect(res.body.pushTo(sink)).rejects.toThrow('too many bytes');
  });

  it('a sink whose lent memory fails (a failed file write) stops the download with that error', async () => {
    const res = await socketGet('GET', new URL(`${base}/big`), {});
    let lends = 0;
    const sink: ChunkSink = {
      write: () => true,
      drained: () => Promise.resolve(),
      space: (max) => {
        if (++lends === 4) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        return new Uint8Array(Math.min(max, 10_000));
      },
      filled: () => true,
    };
    await expect(res.body.pushTo(sink)).rejects.toMatchObject({ code: 'ENOSPC' });
  });

  it('reads error bodies; a refused connection rejects with its code', async () => {
    const res = await socketGet('GET', new URL(`${base}/missing`), {});
    expect(res.status).toBe(404);
    expect((await readAll(res.body)).toString()).toContain('BLOB_UNKNOWN');
    const dead = createNetServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as { port: number }).port;
    await new Promise((r) => dead.close(r));
    await expect(socketGet('GET', new URL(`http://127.0.0.1:${port}/x`), {})).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('rawRequest with pushBody follows redirects and hands back a push source', async () => {
    const res = await rawRequest('GET', new URL(`${base}/redirect`), {}, { pushBody: true });
    expect(res.status).toBe(200);
    expect(res.url.pathname).toBe('/big');
    const c = collectingSink({ lend: true });
    await (res.body as unknown as { pushTo(s: ChunkSink): Promise<void> }).pushTo(c.sink);
    expect(c.bytes().equals(big)).toBe(true);
  });
});

describe('socketGet against a hand-written server', () => {
  let server: NetServer;
  let port: number;
  let script: (s: Socket) => void = () => {};
  beforeAll(async () => {
    server = createNetServer((s) => {
      s.once('data', () => script(s));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it('takes headers split across reads, repeated headers, and a body ended by the connection', async () => {
    script = (s) => {
      s.write('HTTP/1.1 200 OK\r\nX-A: 1\r\n');
      setTimeout(() => {
        s.write('X-A: 2\r\nContent-Type: text/plain\r\n\r\nhello ');
        setTimeout(() => s.end('world'), 20);
      }, 20);
    };
    const res = await socketGet('GET', new URL(`http://127.0.0.1:${port}/`), {});
    expect(res.headers['x-a']).toBe('1, 2');
    expect(res.statusText).toBe('OK');
    const c = collectingSink({ lend: true });
    await res.body.pushTo(c.sink);
    expect(c.bytes().toString()).toBe('hello world');
  });

  it('refuses a response that is not HTTP', async () => {
    script = (s) => s.end('SSH-2.0-OpenSSH\r\n\r\n');
    await expect(socketGet('GET', new URL(`http://127.0.0.1:${port}/`), {})).rejects.toThrow(/bad HTTP response: status line/);
  });

  it('a connection closed before the headers is a lost connection', async () => {
    script = (s) => s.end('HTTP/1.1 200 OK\r\n');
    await expect(socketGet('GET', new URL(`http://127.0.0.1:${port}/`), {})).rejects.toMatchObject({ code: 'ECONNRESET' });
  });
});

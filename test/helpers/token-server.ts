// A small Docker-style token server for tests: it checks Basic credentials and
// issues RS256 JWTs that docker distribution's `auth.token` verifies against
// its `rootcertbundle`. The signing key and its self-signed certificate are
// made with the openssl CLI; the token header carries the certificate in
// `x5c`, which distribution checks against the bundle.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPrivateKey, createSign, randomBytes, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';

export interface TokenServerOptions {
  /** Folder where the key and certificate are written. */
  dir: string;
  username: string;
  password: string;
  /** `service` the registry is configured with (the token's audience). */
  service: string;
  issuer: string;
  /** Lifetime of issued tokens in seconds. */
  expiresIn?: number;
}

export interface TokenRequest {
  method: string;
  service: string | null;
  scopes: string[];
  account: string | null;
  /** Whether valid Basic credentials came with the request. */
  authenticated: boolean;
  /** 0 for a request held without an answer (stall). */
  status: number;
}

export interface TokenServer {
  /** Realm URL to configure in the registry, e.g. http://127.0.0.1:PORT/token */
  realm: string;
  /** PEM certificate path for the registry's `rootcertbundle`. */
  certPath: string;
  /** Every request the server answered, in order (for assertions). */
  requests: TokenRequest[];
  /**
   * The next `times` requests (Infinity: all) are accepted, read and never
   * answered, the connection held open: a token server that hangs.
   */
  stall(times: number): void;
  stop(): Promise<void>;
}

/** Make an RSA key and a self-signed certificate for it with the openssl CLI. */
async function makeSigningCertificate(dir: string): Promise<{ keyPath: string; certPath: string }> {
  const keyPath = join(dir, 'token-signing.key');
  const certPath = join(dir, 'token-signing.crt');
  await execa('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=coracle-test-token-issuer',
    '-keyout', keyPath, '-out', certPath,
  ]);
  return { keyPath, certPath };
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** The DER body of the first PEM certificate, base64 (standard alphabet) as `x5c` wants it. */
function pemToX5c(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error('no certificate in PEM');
  return m[1].replace(/\s+/g, '');
}

interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** `repository:name:pull,push` -> access claim. Names may contain ':' only in the type-class form, which we do not use. */
export function parseScope(scope: string): Access | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  const type = scope.slice(0, first).replace(/\(.*\)$/, '');
  return { type, name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

function signJwt(key: KeyObject, x5c: string, claims: Record<string, unknown>): string {
  const header = { typ: 'JWT', alg: 'RS256', x5c: [x5c] };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const sig = createSign('RSA-SHA256').update(input).sign(key);
  return `${input}.${base64url(sig)}`;
}

function checkBasic(req: IncomingMessage, username: string, password: string): boolean {
  const h = req.headers.authorization;
  if (!h || !/^basic /i.test(h)) return false;
  const decoded = Buffer.from(h.slice(6).trim(), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i >= 0 && decoded.slice(0, i) === username && decoded.slice(i + 1) === password;
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const { keyPath, certPath } = await makeSigningCertificate(opts.dir);
  const key = createPrivateKey(await readFile(keyPath));
  const x5c = pemToX5c(await readFile(certPath, 'utf8'));
  const expiresIn = opts.expiresIn ?? 300;
  const requests: TokenRequest[] = [];
  let stalls = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    // docker's OAuth2 flow (POST form) is also accepted so any client works.
    let params = url.searchParams;
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      params = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
    }
    const scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
    const authenticated = req.method === 'POST'
      ? params.get('username') === opts.username && params.get('password') === opts.password
      : checkBasic(req, opts.username, opts.password);
    const record: TokenRequest = {
      method: req.method ?? 'GET',
      service: params.get('service'),
      scopes,
      account: params.get('account'),
      authenticated,
      status: 0,
    };
    requests.push(record);
    if (stalls > 0) {
      stalls--;
      return; // no answer; stop() closes the connection
    }
    if (url.pathname !== '/token') {
      record.status = 404;
      res.writeHead(404).end();
      return;
    }
    if (!authenticated) {
      record.status = 401;
      res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="coracle-test-token"' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
      return;
    }
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.map(parseScope).filter((a): a is Access => a !== undefined);
    const token = signJwt(key, x5c, {
      iss: opts.issuer,
      sub: opts.username,
      aud: params.get('service') ?? opts.service,
      exp: now + expiresIn,
      nbf: now - 5,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    });
    record.status = 200;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() }));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500).end(String(e));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certPath,
    requests,
    stall: (times) => {
      stalls = times;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

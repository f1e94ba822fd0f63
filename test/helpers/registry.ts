// Start Debian's docker-registry (docker distribution 2.8) for tests: on
// 127.0.0.1 only, a free port, temporary storage and our own config file
// (never the packaged /etc/docker/registry/config.yml, which listens on all
// interfaces). Three modes: anonymous, htpasswd Basic auth, token auth.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile, mkdir, chmod, rename } from 'node:fs/promises';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { startTokenServer, type TokenServer } from './token-server.js';

export type RegistryAuth = 'none' | 'htpasswd' | 'token';

export interface RegistryOptions {
  auth?: RegistryAuth;
  username?: string;
  password?: string;
}

export interface TestRegistry {
  auth: RegistryAuth;
  /** `127.0.0.1:PORT` — the registry part of an image reference. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  username: string;
  password: string;
  /** Folder the registry stores blobs under (docker/registry/v2/...). */
  storageDir: string;
  /** The token server (token mode only). */
  tokenServer?: TokenServer;
  /** Everything the registry has logged so far (access log lines included). */
  logs(): string;
  /** The registry's access log, parsed (one entry per HTTP request, in order). */
  accessLog(): AccessLogEntry[];
  /** `user:password` for skopeo's --src-creds/--dest-creds, or undefined in anonymous mode. */
  creds(): string | undefined;
  stop(): Promise<void>;
}

export interface AccessLogEntry {
  method: string;
  /** Path without the query string. */
  path: string;
  query: URLSearchParams;
  status: number;
  userAgent: string;
}

const REGISTRY_BIN = '/usr/bin/docker-registry';

// Combined log format lines, e.g.
// 127.0.0.1 - - [23/Nov/2026:14:49:03 +0000] "PUT /v2/a/manifests/v1 HTTP/1.1" 201 0 "" "skopeo/1.9.3"
const ACCESS_LINE = /^\S+ \S+ \S+ \[[^\]]+\] "(\S+) (\S+) HTTP\/[\d.]+" (\d{3}) \S+ "[^"]*" "([^"]*)"/;

export function parseAccessLog(text: string): AccessLogEntry[] {
  const out: AccessLogEntry[] = [];
  for (const line of text.split('\n')) {
    const m = ACCESS_LINE.exec(line);
    if (!m) continue;
    const u = new URL(m[2], 'http://registry.invalid');
    out.push({ method: m[1], path: decodeURIComponent(u.pathname), query: u.searchParams, status: Number(m[3]), userAgent: m[4] });
  }
  return out;
}

/** A port that was free a moment ago (the registry binds it itself). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function configYaml(o: {
  port: number;
  storageDir: string;
  auth: RegistryAuth;
  htpasswdPath?: string;
  token?: { realm: string; service: string; issuer: string; certPath: string };
}): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${o.storageDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${o.port}`,
    '  secret: coracle-test-secret',
    '  headers:',
    '    X-Content-Type-Options: [nosniff]',
    'health:',
    '  storagedriver:',
    '    enabled: false',
  ];
  if (o.auth === 'htpasswd') {
    lines.push('auth:', '  htpasswd:', '    realm: coracle-test', `    path: ${o.htpasswdPath}`);
  } else if (o.auth === 'token' && o.token) {
    lines.push(
      'auth:',
      '  token:',
      `    realm: ${o.token.realm}`,
      `    service: ${o.token.service}`,
      `    issuer: ${o.token.issuer}`,
      `    rootcertbundle: ${o.token.certPath}`,
    );
  }
  return lines.join('\n') + '\n';
}

async function waitForV2(url: string, child: ChildProcess, logPath: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`docker-registry exited during start-up:\n${readFileSync(logPath, 'utf8')}`);
    try {
      const r = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry did not answer ${url}/v2/ within ${timeoutMs} ms:\n${readFileSync(logPath, 'utf8')}`);
}

/** Start a registry; the caller must `await reg.stop()` (e.g. in afterAll). */
export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const auth = opts.auth ?? 'none';
  const username = opts.username ?? 'coracle';
  const password = opts.password ?? 'sekr1t-pa55';
  const dir = await mkdtemp(join(tmpdir(), 'coracle-registry-'));
  const storageDir = join(dir, 'storage');
  await mkdir(storageDir);

  let htpasswdPath: string | undefined;
  if (auth === 'htpasswd') {
    htpasswdPath = join(dir, 'htpasswd');
    const r = await execa('htpasswd', ['-Bbn', username, password]);
    await writeFile(htpasswdPath, r.stdout.trim() + '\n');
  }
  let tokenServer: TokenServer | undefined;
  const service = 'coracle-test-registry';
  const issuer = 'coracle-test-issuer';
  if (auth === 'token') {
    tokenServer = await startTokenServer({ dir, username, password, service, issuer });
  }

  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const configPath = join(dir, `config-${attempt}.yml`);
    await writeFile(
      configPath,
      configYaml({
        port,
        storageDir,
        auth,
        htpasswdPath,
        token: tokenServer ? { realm: tokenServer.realm, service, issuer, certPath: tokenServer.certPath } : undefined,
      }),
    );
    const logPath = join(dir, `registry-${attempt}.log`);
    const fd = openSync(logPath, 'a');
    const child = spawn(REGISTRY_BIN, ['serve', configPath], {
      stdio: ['ignore', fd, fd],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir },
    });
    closeSync(fd);
    try {
      await waitForV2(url, child, logPath);
    } catch (e) {
      lastError = e;
      child.kill('SIGKILL');
      continue;
    }
    let stopped = false;
    return {
      auth,
      host: `127.0.0.1:${port}`,
      url,
      username,
      password,
      storageDir,
      tokenServer,
      logs: () => readFileSync(logPath, 'utf8'),
      accessLog: () => parseAccessLog(readFileSync(logPath, 'utf8')),
      creds: () => (auth === 'none' ? undefined : `${username}:${password}`),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
          await exited;
          clearTimeout(timer);
        }
        await tokenServer?.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }
  await tokenServer?.stop();
  await rm(dir, { recursive: true, force: true });
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

// ---------------------------------------------------------------------------
// Credentials for coracle: a temporary DOCKER_CONFIG folder.

export interface DockerConfig {
  /** Pass as `env: { DOCKER_CONFIG: dir }`. */
  dir: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/**
 * A DOCKER_CONFIG folder with credentials for `reg`:
 * - `auths`: config.json `auths[host].auth` = base64(user:pass)
 * - `credHelpers`: config.json `credHelpers[host] = "coracletest"` and an
 *   executable `docker-credential-coracletest` on PATH (returned env puts
 *   the folder's bin first) that answers `get` per the credential-helper protocol.
 * - `credsStore`: same helper, configured as the default store.
 */
export async function dockerConfigFor(
  reg: Pick<TestRegistry, 'host' | 'username' | 'password'>,
  how: 'auths' | 'credHelpers' | 'credsStore' | 'empty' = 'auths',
): Promise<DockerConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'coracle-dockercfg-'));
  const env: Record<string, string> = { DOCKER_CONFIG: dir };
  let config: Record<string, unknown> = {};
  if (how === 'auths') {
    config = { auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:${reg.password}`).toString('base64') } } };
  } else if (how === 'credHelpers' || how === 'credsStore') {
    const bin = join(dir, 'bin');
    await mkdir(bin);
    const helper = join(bin, 'docker-credential-coracletest');
    // The protocol: `get` reads the server URL on stdin and prints
    // {"ServerURL","Username","Secret"} or exits 1 with "credentials not found".
    const script = [
      '#!/bin/sh',
      `echo "$@" >> "${join(dir, 'helper-calls.log')}"`,
      'if [ "$1" != get ]; then exit 0; fi',
      'read -r server',
      `echo "get $server" >> "${join(dir, 'helper-calls.log')}"`,
      'case "$server" in',
      `  ${reg.host}|http://${reg.host}|https://${reg.host}|${reg.host}/*|http://${reg.host}/*|https://${reg.host}/*)`,
      `    printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\\n' "$server" '${reg.username}' '${reg.password}' ;;`,
      '  *) echo "credentials not found in native keychain"; exit 1 ;;',
      'esac',
      '',
    ].join('\n');
    await writeFile(helper, script);
    await chmod(helper, 0o755);
    config = how === 'credHelpers' ? { credHelpers: { [reg.host]: 'coracletest' } } : { credsStore: 'coracletest' };
    env.PATH = `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`;
  }
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return { dir, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Lines the credential helper script logged (credHelpers/credsStore modes). */
export function credentialHelperCalls(cfg: DockerConfig): string[] {
  try {
    return readFileSync(join(cfg.dir, 'helper-calls.log'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------
// skopeo, the interop peer.

export interface SkopeoOptions {
  srcCreds?: string;
  destCreds?: string;
  /** Copy every platform of an index (`--all`). */
  all?: boolean;
  extra?: string[];
}

/** `skopeo copy` with TLS verification off (our registries are plain http). */
export async function skopeoCopy(src: string, dest: string, o: SkopeoOptions = {}): Promise<void> {
  const args = [...(await skopeoPolicyArgs()), 'copy', '--quiet', '--src-tls-verify=false', '--dest-tls-verify=false'];
  if (o.srcCreds) args.push('--src-creds', o.srcCreds);
  if (o.destCreds) args.push('--dest-creds', o.destCreds);
  if (o.all) args.push('--all');
  args.push(...(o.extra ?? []), src, dest);
  await execa('skopeo', args, { env: skopeoEnv() });
}

/** `skopeo inspect --raw` (the manifest bytes as the registry serves them). */
export async function skopeoInspectRaw(ref: string, creds?: string): Promise<string> {
  const args = ['inspect', '--raw', '--tls-verify=false'];
  if (creds) args.push('--creds', creds);
  args.push(ref);
  // the exact bytes: a manifest may end with a newline, which is part of its digest
  const r = await execa('skopeo', args, { env: skopeoEnv(), stripFinalNewline: false });
  return r.stdout;
}

/** `skopeo inspect --config --raw` (the config blob). */
export async function skopeoInspectConfig(ref: string, creds?: string): Promise<string> {
  const args = ['inspect', '--config', '--raw', '--tls-verify=false'];
  if (creds) args.push('--creds', creds);
  args.push(ref);
  const r = await execa('skopeo', args, { env: skopeoEnv(), stripFinalNewline: false });
  return r.stdout;
}

// skopeo must not pick up the developer's own auth files or policy surprises.
let policyPath: string | undefined;
function skopeoEnv(): Record<string, string> {
  return { REGISTRY_AUTH_FILE: '/nonexistent/coracle-test-auth.json' };
}

/**
 * A permissive signature policy, for machines without /etc/containers/policy.json.
 * One shared file per user (written whole, then renamed), so nothing piles up in /tmp.
 */
export async function skopeoPolicyArgs(): Promise<string[]> {
  if (!policyPath) {
    const path = join(tmpdir(), `coracle-skopeo-policy-${process.getuid?.() ?? 'user'}.json`);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    await rename(tmp, path);
    policyPath = path;
  }
  return ['--policy', policyPath];
}

/**
 * GET/HEAD a registry API path directly, authenticated as the test user
 * (Basic for htpasswd, a token from our token server for token mode), to
 * check what the registry really holds without going through coracle.
 */
export async function registryFetch(
  reg: TestRegistry,
  path: string,
  o: { method?: string; repository?: string; accept?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (o.accept) headers.Accept = o.accept;
  const basic = 'Basic ' + Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
  if (reg.auth === 'htpasswd') headers.Authorization = basic;
  if (reg.auth === 'token' && reg.tokenServer) {
    const u = new URL(reg.tokenServer.realm);
    u.searchParams.set('service', 'coracle-test-registry');
    if (o.repository) u.searchParams.set('scope', `repository:${o.repository}:pull`);
    const t = (await (await fetch(u, { headers: { Authorization: basic } })).json()) as { token: string };
    headers.Authorization = `Bearer ${t.token}`;
  }
  return fetch(`${reg.url}${path}`, { method: o.method ?? 'GET', headers });
}

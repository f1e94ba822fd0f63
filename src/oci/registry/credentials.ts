import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CoracleError } from '../../errors.js';

/**
 * Registry credentials from Docker's client configuration
 * (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`): the `auths`
 * map (base64 `auth`, or `username`/`password`, `identitytoken`),
 * `credHelpers` per registry and the default `credsStore`, both through
 * `docker-credential-<name> get`.
 */
export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token (docker login with an identity provider). */
  identityToken?: string;
  /** A bearer token to send as it is. */
  registryToken?: string;
}

/** Looks up credentials for a registry host (`docker.io`, `localhost:5000`). */
export type CredentialSource = (registry: string) => Promise<Credentials | undefined>;

interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  registrytoken?: string;
}

interface DockerConfigFile {
  auths?: Record<string, DockerAuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The config.json path docker uses. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
}

/** `https://index.docker.io/v1/` -> `index.docker.io`; `http://h:5000/x` -> `h:5000`. */
export function normaliseRegistryKey(key: string): string {
  let k = key.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  return DOCKER_HUB_ALIASES.has(k) ? 'docker.io' : k;
}

/** What a credential helper is given on stdin for a registry. */
export function helperServerUrl(registry: string): string {
  return normaliseRegistryKey(registry) === 'docker.io' ? DOCKER_HUB_SERVER : registry;
}

function fromAuthEntry(e: DockerAuthEntry, file: string, key: string): Credentials | undefined {
  const c: Credentials = {};
  if (e.auth) {
    const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new CoracleError(`${file}: auths["${key}"].auth is not base64 of user:password`);
    c.username = decoded.slice(0, colon);
    c.password = decoded.slice(colon + 1);
  } else {
    if (e.username !== undefined) c.username = e.username;
    if (e.password !== undefined) c.password = e.password;
  }
  if (e.identitytoken) c.identityToken = e.identitytoken;
  if (e.registrytoken) c.registryToken = e.registrytoken;
  return c.username !== undefined || c.identityToken || c.registryToken ? c : undefined;
}

/** Run `docker-credential-<helper> get`; undefined when it has nothing for this server. */
export async function runCredentialHelper(helper: string, registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  const server = helperServerUrl(registry);
  // execa loads only when a helper runs: most pulls never need one.
  const { execa } = await import('execa');
  let r;
  try {
    r = await execa(program, ['get'], { input: server, reject: false, env, timeout: 30_000 });
  } catch (e) {
    throw new CoracleError(`credential helper ${program} for ${registry} could not run: ${(e as Error).message}`);
  }
  if ((r as { code?: string }).code === 'ENOENT' || r.failed && r.exitCode === undefined) {
    throw new CoracleError(`credential helper ${program} for ${registry} not found on PATH`);
  }
  if (r.exitCode !== 0) {
    const out = `${String(r.stdout)} ${String(r.stderr)}`;
    if (/credentials not found/i.test(out)) return undefined;
    throw new CoracleError(`credential helper ${program} for ${registry} failed (exit ${r.exitCode}): ${out.trim().split('\n')[0]}`);
  }
  let parsed: { Username?: string; Secret?: string };
  try {
    parsed = JSON.parse(String(r.stdout)) as { Username?: string; Secret?: string };
  } catch {
    throw new CoracleError(`credential helper ${program} for ${registry} printed something that is not JSON`);
  }
  if (!parsed.Secret) return undefined;
  // Docker's convention: user "<token>" means the secret is an identity token.
  if (parsed.Username === '<token>') return { identityToken: parsed.Secret };
  return { username: parsed.Username ?? '', password: parsed.Secret };
}

async function readDockerConfig(file: string): Promise<DockerConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CoracleError(`cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as DockerConfigFile;
  } catch (e) {
    throw new CoracleError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * A CredentialSource over docker's config file. The file is read once, on
 * first use; helpers run only for a registry that asks for credentials.
 */
export function dockerCredentials(opts: { configFile?: string; env?: NodeJS.ProcessEnv } = {}): CredentialSource {
  const env = opts.env ?? process.env;
  const file = opts.configFile ?? dockerConfigPath(env);
  let config: Promise<DockerConfigFile | undefined> | undefined;
  const cache = new Map<string, Promise<Credentials | undefined>>();
  const lookup = async (registry: string): Promise<Credentials | undefined> => {
    config ??= readDockerConfig(file);
    const cfg = await config;
    if (!cfg) return undefined;
    const want = normaliseRegistryKey(registry);
    const helper = Object.entries(cfg.credHelpers ?? {}).find(([k]) => normaliseRegistryKey(k) === want)?.[1];
    if (helper) return runCredentialHelper(helper, registry, env);
    if (cfg.credsStore) {
      // A default store whose program is absent (config.json copied from another
      // machine) must not break anonymous pulls: fall back to the file's auths.
      const fromStore = await runCredentialHelper(cfg.credsStore, registry, env).catch((e: unknown) => {
        if (e instanceof CoracleError && /not found on PATH/.test(e.message)) return undefined;
        throw e;
      });
      if (fromStore) return fromStore;
    }
    const auths = cfg.auths ?? {};
    // An exact key wins over a normalised match (several spellings may exist).
    const exact = auths[registry] ?? (want === 'docker.io' ? auths[DOCKER_HUB_SERVER] : undefined);
    if (exact) return fromAuthEntry(exact, file, registry);
    for (const [k, e] of Object.entries(auths)) {
      if (normaliseRegistryKey(k) === want) {
        const c = fromAuthEntry(e, file, k);
        if (c) return c;
      }
    }
    return undefined;
  };
  return (registry) => {
    const key = normaliseRegistryKey(registry);
    let p = cache.get(key);
    if (!p) {
      p = lookup(registry);
      cache.set(key, p);
    }
    return p;
  };
}

/** No credentials at all (anonymous access only). */
export const anonymous: CredentialSource = async () => undefined;

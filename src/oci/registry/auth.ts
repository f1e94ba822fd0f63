import { type Challenge, normaliseScopes, parseWwwAuthenticate, splitScopes } from './challenge.js';
import type { CredentialSource, Credentials } from './credentials.js';
import { RegistryError, describeErrorBody, describeNetworkError } from './errors.js';
import { type FetchLike, type RetryPolicy, fetchWithRetry, registryIdleTimeoutMs, stalledError } from './transport.js';

/**
 * Bearer tokens by (registry, realm, service, scope set, user). Shared by
 * every client in a process so a pull followed by a push does not ask twice.
 */
export class TokenCache {
  private readonly tokens = new Map<string, { token: string; expiresAt: number }>();
  constructor(private readonly now: () => number = Date.now) {}
  get(key: string): string | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    // Renew a little early so a token does not expire in flight.
    if (t.expiresAt - 10_000 <= this.now()) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }
  set(key: string, token: string, expiresInSeconds: number): void {
    this.tokens.set(key, { token, expiresAt: this.now() + expiresInSeconds * 1000 });
  }
  delete(key: string): void {
    this.tokens.delete(key);
  }
  private readonly pending = new Map<string, Promise<string>>();
  /** One token request per key at a time: concurrent requests share it. */
  fetchOnce(key: string, fetchToken: () => Promise<{ token: string; expiresIn: number }>): Promise<string> {
    let p = this.pending.get(key);
    if (!p) {
      p = fetchToken()
        .then(({ token, expiresIn }) => {
          this.set(key, token, expiresIn);
          return token;
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }
  get size(): number {
    return this.tokens.size;
  }
}

export const sharedTokenCache = new TokenCache();

export interface AuthOptions {
  /** host[:port] of the endpoint, for messages and the cache key. */
  host: string;
  /** The name credentials are filed under (the registry, or the mirror's host). */
  credentialKey: string;
  credentials: CredentialSource;
  tokens: TokenCache;
  fetch: FetchLike;
  retry: RetryPolicy;
  userAgent: string;
}

/**
 * Authorization for one registry endpoint: learns the scheme from the first
 * 401 challenge, then sends Basic credentials or a bearer token for the
 * request's scope set up front on later requests.
 */
export class RegistryAuth {
  private challenge: Challenge | undefined;
  private creds: Promise<Credentials | undefined> | undefined;
  constructor(private readonly o: AuthOptions) {}

  private credentials(): Promise<Credentials | undefined> {
    this.creds ??= this.o.credentials(this.o.credentialKey);
    return this.creds;
  }

  /** Remember the registry's preferred challenge (Bearer over Basic). */
  learn(header: string | null): boolean {
    const all = parseWwwAuthenticate(header ?? '');
    const pick = all.find((c) => c.scheme === 'bearer' && c.params.realm) ?? all.find((c) => c.scheme === 'basic');
    if (pick) this.challenge = pick;
    return pick !== undefined;
  }

  /** The Authorization header for a request, when the scheme is already known. */
  async header(scopes: string[]): Promise<string | undefined> {
    if (!this.challenge) return undefined;
    return this.authorize(this.challenge, scopes, undefined);
  }

  /**
   * After a 401: learn its challenge and get fresh authorization; throws
   * when there is none to give. `sent` is the header the refused request
   * carried: a token other than that one (renewed meanwhile) is reused.
   */
  async refresh(res: Response, scopes: string[], sent?: string): Promise<string> {
    const learned = this.learn(res.headers.get('www-authenticate'));
    if (!learned || !this.challenge) {
      const body = await res.text().catch(() => '');
      throw new RegistryError(`401 unauthorized: ${describeErrorBody(body).text ?? 'no supported authentication scheme'} (registry ${this.o.host})`, {
        registry: this.o.host,
        status: 401,
      });
    }
    const wanted = [...scopes, ...splitScopes(this.challenge.params.scope)];
    const h = await this.authorize(this.challenge, wanted, sent ?? '');
    if (!h) throw await this.unauthorized(undefined);
    return h;
  }

  /** The error for a 401 that authorization did not cure. */
  async unauthorized(res: Response | undefined): Promise<RegistryError> {
    const body = res ? await res.text().catch(() => '') : '';
    const creds = await this.credentials();
    const detail = describeErrorBody(body).text;
    const msg = creds
      ? `401 unauthorized: ${this.o.host} refused the credentials${creds.username ? ` of ${creds.username}` : ''}${detail ? ` (${detail})` : ''}`
      : `401 unauthorized: no credentials for ${this.o.host}`;
    return new RegistryError(msg, { registry: this.o.host, status: 401, code: 'UNAUTHORIZED' });
  }

  /** `refused`: the header a 401 answered (never hand that token out again); undefined when not after a 401. */
  private async authorize(ch: Challenge, scopes: string[], refused: string | undefined): Promise<string | undefined> {
    const creds = await this.credentials();
    if (ch.scheme === 'basic') {
      if (!creds || creds.username === undefined) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    }
    if (creds?.registryToken) return `Bearer ${creds.registryToken}`;
    const scopeSet = normaliseScopes(scopes);
    const key = [this.o.host, ch.params.realm, ch.params.service ?? '', scopeSet.join(' '), creds?.username ?? ''].join('|');
    const cached = this.o.tokens.get(key);
    if (cached && `Bearer ${cached}` !== refused) return `Bearer ${cached}`;
    if (cached) this.o.tokens.delete(key);
    const token = await this.o.tokens.fetchOnce(key, () => this.fetchToken(ch, scopeSet, creds));
    return `Bearer ${token}`;
  }

  private async fetchToken(ch: Challenge, scopes: string[], creds: Credentials | undefined): Promise<{ token: string; expiresIn: number }> {
    const realm = ch.params.realm!;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`registry ${this.o.host} names a token realm that is not a URL: ${realm}`, { registry: this.o.host });
    }
    const service = ch.params.service;
    // A token server that accepts and never answers must not hang a pull: its
    // answer (headers and a small body) must come within the registry idle
    // bound, else the attempt fails as a stalled connection (retried as one).
    const idle = registryIdleTimeoutMs();
    const bounded = (init: RequestInit): RequestInit => {
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(stalledError(idle)), idle).unref();
      return { ...init, signal: ctl.signal };
    };
    let res: Response;
    let text: string;
    try {
      if (creds?.identityToken) {
        // OAuth2 refresh-token grant, as docker does after a login with an identity token.
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'coracle' });
        if (service) form.set('service', service);
        if (scopes.length) form.set('scope', scopes.join(' '));
        res = await fetchWithRetry(this.o.fetch, url, () => bounded({
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': this.o.userAgent },
          body: form.toString(),
        }), this.o.retry);
      } else {
        if (service) url.searchParams.set('service', service);
        for (const s of scopes) url.searchParams.append('scope', s);
        const headers: Record<string, string> = { 'user-agent': this.o.userAgent };
        if (creds?.username !== undefined) {
          headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
        }
        res = await fetchWithRetry(this.o.fetch, url, () => bounded({ method: 'GET', headers }), this.o.retry);
      }
      text = await res.text();
    } catch (e) {
      // withRetry has described a failed connection already; a body lost or stalled is described here.
      const why = (e instanceof RegistryError ? e : describeNetworkError(e, url)).message;
      throw new RegistryError(`token server (realm ${realm}): ${why} (for registry ${this.o.host})`, { registry: this.o.host, cause: e });
    }
    if (res.status === 401 || res.status === 403) {
      const msg = creds
        ? `${res.status} unauthorized: token server ${url.host} refused the credentials${creds.username ? ` of ${creds.username}` : ''} for ${this.o.host}`
        : `401 unauthorized: no credentials for ${this.o.host}`;
      throw new RegistryError(msg, { registry: this.o.host, status: res.status, code: 'UNAUTHORIZED' });
    }
    if (!res.ok) {
      const why = describeErrorBody(text).text ?? res.statusText;
      throw new RegistryError(`token server ${url.host} answered ${res.status}${why ? `: ${why}` : ''} (for registry ${this.o.host})`, {
        registry: this.o.host,
        status: res.status,
      });
    }
    let body: { token?: string; access_token?: string; expires_in?: number };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError(`token server ${url.host} sent a reply that is not JSON (for registry ${this.o.host})`, { registry: this.o.host });
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`token server ${url.host} sent no token (for registry ${this.o.host})`, { registry: this.o.host });
    // The distribution spec: 60 s when the server does not say.
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    return { token, expiresIn };
  }
}

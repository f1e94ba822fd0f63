import { CoracleError } from '../../errors.js';

/**
 * A registry refused or failed a request. The message is the cause alone
 * (`manifest unknown (registry localhost:5000 answered 404)`); operations
 * prefix it with what they were doing (`pull localhost:5000/foo:1: ...`).
 */
export class RegistryError extends CoracleError {
  readonly registry: string;
  readonly status?: number;
  /** Distribution error code, e.g. MANIFEST_UNKNOWN, or a network code (ECONNREFUSED). */
  readonly code?: string;
  constructor(message: string, info: { registry: string; status?: number; code?: string; cause?: unknown }) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = 'RegistryError';
    this.registry = info.registry;
    if (info.status !== undefined) this.status = info.status;
    if (info.code !== undefined) this.code = info.code;
  }
}

/** A digest the registry sent (or that its bytes hash to) is not the one asked for. */
export class DigestMismatchError extends CoracleError {
  constructor(message: string) {
    super(message);
    this.name = 'DigestMismatchError';
  }
}

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EAI_AGAIN: 'name lookup failed temporarily',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for headers',
  UND_ERR_BODY_TIMEOUT: 'timed out reading the body',
  UND_ERR_SOCKET: 'connection closed',
  UND_ERR_CLOSED: 'connection closed',
  EPROTO: 'TLS/protocol error',
  ERR_SSL_WRONG_VERSION_NUMBER: 'TLS handshake failed (is it plain HTTP? then mark it --insecure)',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate not trusted',
  CERT_HAS_EXPIRED: 'certificate expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate does not match the host name',
};

/** The innermost error code of a fetch failure (undici wraps the socket error in `cause`). */
export function networkErrorCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && cur; depth++) {
    const c = cur as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof c.code === 'string' && c.code !== 'ERR_INVALID_STATE') return c.code;
    if (Array.isArray(c.errors) && c.errors.length > 0) cur = c.errors[0];
    else cur = c.cause;
  }
  return undefined;
}

/** The error that carries the network code (undici and the store wrap it in `cause`), or undefined. */
export function connectionFailure(e: unknown): Error | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && cur; depth++) {
    const c = cur as { code?: unknown; cause?: unknown };
    if (typeof c.code === 'string' && c.code in NETWORK_CODES) return cur as Error;
    cur = c.cause;
  }
  return undefined;
}

/** Network failures worth another attempt (a name that does not exist is not). */
export function isRetryableNetworkError(e: unknown): boolean {
  const code = networkErrorCode(e);
  if (code === undefined) return e instanceof TypeError; // "fetch failed" without detail
  return !['ENOTFOUND', 'ERR_INVALID_URL', 'ERR_TLS_CERT_ALTNAME_INVALID', 'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_SSL_WRONG_VERSION_NUMBER', 'EPROTO'].includes(code);
}

/** One line for a failed connection: `cannot connect to HOST (connection refused)`, `unknown host H`. */
export function describeNetworkError(e: unknown, url: URL): RegistryError {
  const code = networkErrorCode(e);
  const registry = url.host;
  if (code === 'ENOTFOUND') return new RegistryError(`unknown host ${url.hostname}`, { registry, code, cause: e });
  if ((e as { stalled?: boolean })?.stalled) return new RegistryError(`${registry} stopped sending (${(e as Error).message})`, { registry, code, cause: e });
  const why = code ? (NETWORK_CODES[code] ?? code) : ((e as Error)?.message ?? String(e));
  return new RegistryError(`cannot connect to ${registry} (${why})`, { registry, ...(code ? { code } : {}), cause: e });
}

/** Turn a distribution error body into a short text: `manifest unknown`, `blob unknown: sha256:...`. */
export function describeErrorBody(body: string): { code?: string; text?: string } {
  try {
    const j = JSON.parse(body) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> };
    const first = j.errors?.[0];
    if (first) {
      const text = first.message ?? first.code?.toLowerCase().replace(/_/g, ' ');
      return { ...(first.code ? { code: first.code } : {}), ...(text ? { text } : {}) };
    }
  } catch {
    // not JSON: fall through
  }
  const line = body.trim().split('\n')[0]?.slice(0, 200);
  return line ? { text: line } : {};
}

import { describeNetworkError, isRetryableNetworkError } from './errors.js';

/**
 * HTTP with bounded retries: connection errors, 5xx and 429 are tried again
 * with exponential backoff; a 429/503 `Retry-After` is honoured (capped).
 */
export interface RetryPolicy {
  /** Further attempts after the first. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Longest Retry-After we are willing to wait. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 200, maxDelayMs: 4000, maxRetryAfterMs: 30_000 };

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * How long a connection may send nothing (headers or body) before it counts
 * as lost: a registry that stalls mid-body must not hang a pull. 30 s, or
 * CORACLE_REGISTRY_IDLE_TIMEOUT seconds.
 */
export function registryIdleTimeoutMs(): number {
  const v = Number(process.env.CORACLE_REGISTRY_IDLE_TIMEOUT);
  return Number.isFinite(v) && v > 0 ? v * 1000 : 30_000;
}

/** The error of a stalled connection (retryable, like a lost one). */
export function stalledError(idleMs: number): Error {
  return Object.assign(new Error(`no data for ${idleMs / 1000} s`), { code: 'ETIMEDOUT', stalled: true });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Seconds or an HTTP date, as milliseconds from now; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 502 || status === 503 || status === 504 || status === 500;
}

function backoff(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
}

/** What the retry loop needs to know of an answer, whatever carried it. */
export interface RetryAnswer {
  status: number;
  retryAfter: string | null;
  /** Throw the answer away before asking again. */
  discard(): Promise<void>;
}

/**
 * One request with retries, over any transport: connection errors, 5xx and
 * 429 are tried again with exponential backoff; a Retry-After is honoured
 * (capped). Returns the last answer (the caller judges its status); throws
 * a RegistryError when the connection never succeeded.
 */
export async function withRetry<T>(
  send: () => Promise<T>,
  answer: (res: T) => RetryAnswer,
  url: URL,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (why: string, delayMs: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let res: T;
    try {
      res = await send();
    } catch (e) {
      if (attempt >= policy.retries || !isRetryableNetworkError(e)) throw describeNetworkError(e, url);
      const delay = backoff(policy, attempt);
      onRetry?.(describeNetworkError(e, url).message, delay);
      await sleep(delay);
      continue;
    }
    const a = answer(res);
    if (!isRetryableStatus(a.status) || attempt >= policy.retries) return res;
    const after = parseRetryAfter(a.retryAfter);
    const delay = after !== undefined ? Math.min(after, policy.maxRetryAfterMs) : backoff(policy, attempt);
    await a.discard();
    onRetry?.(`${url.host} answered ${a.status}`, delay);
    await sleep(delay);
  }
}

/**
 * One fetch with retries (see withRetry). `init` is a factory so a body can
 * be produced again for each attempt.
 */
export async function fetchWithRetry(
  fetchFn: FetchLike,
  url: URL,
  init: () => RequestInit,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (why: string, delayMs: number) => void,
): Promise<Response> {
  return withRetry(
    () => fetchFn(url, init()),
    (res) => ({
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      discard: async () => {
        await res.body?.cancel().catch(() => {});
      },
    }),
    url,
    policy,
    onRetry,
  );
}

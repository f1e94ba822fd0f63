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

/**
 * One request with retries. `init` is a factory so a body can be produced
 * again for each attempt. Returns the last response (the caller judges its
 * status); throws a RegistryError when the connection never succeeded.
 */
export async function fetchWithRetry(
  fetchFn: FetchLike,
  url: URL,
  init: () => RequestInit,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (why: string, delayMs: number) => void,
): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetchFn(url, init());
    } catch (e) {
      if (attempt >= policy.retries || !isRetryableNetworkError(e)) throw describeNetworkError(e, url);
      const delay = backoff(policy, attempt);
      onRetry?.(describeNetworkError(e, url).message, delay);
      await sleep(delay);
      continue;
    }
    if (!isRetryableStatus(res.status) || attempt >= policy.retries) return res;
    const after = parseRetryAfter(res.headers.get('retry-after'));
    const delay = after !== undefined ? Math.min(after, policy.maxRetryAfterMs) : backoff(policy, attempt);
    await res.body?.cancel().catch(() => {});
    onRetry?.(`${url.host} answered ${res.status}`, delay);
    await sleep(delay);
  }
}

import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import type { CredentialSource } from '../registry/credentials.js';
import type { TokenCache } from '../registry/auth.js';
import type { FetchLike, RetryPolicy } from '../registry/transport.js';
import type { Reporter } from '../../progress/reporter.js';

/** How to reach registries: shared by pull, push, inspect and ensureImage. */
export interface RegistryAccessOptions {
  /** Registry host -> mirror base URLs tried in order before the registry. */
  mirrors?: Record<string, string[]>;
  /** Plain HTTP for every non-loopback registry (`true`) or for these hosts. */
  insecure?: boolean | string[];
  credentials?: CredentialSource;
  tokenCache?: TokenCache;
  retry?: Partial<RetryPolicy>;
  fetch?: FetchLike;
  reporter?: Reporter;
}

export interface Source {
  /** `mirror 127.0.0.1:5000` or the registry's host, for messages. */
  label: string;
  mirror: boolean;
  client: RegistryClient;
}

/** Registry client options from the shared access options (every client of a pull or push is made alike). */
export function clientOptions(o: Omit<RegistryAccessOptions, 'mirrors'>, scopes: string[]): Omit<RegistryClientOptions, 'registry'> {
  return {
    insecure: o.insecure ?? false,
    scopes,
    ...(o.credentials ? { credentials: o.credentials } : {}),
    ...(o.tokenCache ? { tokenCache: o.tokenCache } : {}),
    ...(o.retry ? { retry: o.retry } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
  };
}

/** Clients to try for pulling from `registry`: its mirrors in order, then the registry itself. */
export function pullSources(registry: string, o: RegistryAccessOptions, scopes: string[] = []): Source[] {
  const base = clientOptions(o, scopes);
  const out: Source[] = [];
  for (const url of o.mirrors?.[registry] ?? []) {
    const client = new RegistryClient({ ...base, registry, endpoint: url });
    out.push({ label: `mirror ${client.host}`, mirror: true, client });
  }
  const client = new RegistryClient({ ...base, registry });
  out.push({ label: client.host, mirror: false, client });
  return out;
}

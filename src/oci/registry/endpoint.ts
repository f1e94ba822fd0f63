/**
 * Where a registry named in a reference is reached: Docker Hub's API host,
 * plain HTTP for loopback hosts and ones marked insecure, HTTPS otherwise.
 */
export const DOCKER_HUB_ENDPOINT = 'https://registry-1.docker.io';

/** host[:port] without the port; `[::1]:5000` -> `::1`. */
export function hostWithoutPort(host: string): string {
  const bracket = /^\[([^\]]+)\]/.exec(host);
  if (bracket) return bracket[1]!;
  const colon = host.lastIndexOf(':');
  return colon >= 0 && host.indexOf(':') === colon ? host.slice(0, colon) : host;
}

/** Loopback registries talk plain HTTP unless told otherwise, as docker does. */
export function isLoopbackHost(host: string): boolean {
  const h = hostWithoutPort(host).toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Does `host` appear in an insecure list (entries may name host or host:port)? */
export function isInsecureHost(host: string, insecure: readonly string[]): boolean {
  const h = host.toLowerCase();
  return insecure.some((e) => {
    const x = e.toLowerCase().replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
    return x === h || x === hostWithoutPort(h);
  });
}

/** Base URL of a registry's API (no trailing slash). */
export function registryEndpoint(registry: string, insecure: boolean | readonly string[] = false): string {
  if (registry === 'docker.io') return DOCKER_HUB_ENDPOINT;
  const plain = insecure === true || isLoopbackHost(registry) || (Array.isArray(insecure) && isInsecureHost(registry, insecure));
  return `${plain ? 'http' : 'https'}://${registry}`;
}

import { CoracleError } from '../errors.js';

/**
 * Image references as docker and containerd normalise them:
 * `alpine` -> docker.io/library/alpine:latest, `localhost:5000/x@sha256:...`.
 */
export interface ImageReference {
  /** Registry host[:port], `docker.io` for Docker Hub. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/alpine`. */
  repository: string;
  tag?: string;
  digest?: string;
}

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const HOST_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const MAX_NAME = 255;

function invalid(input: string, why: string): CoracleError {
  return new CoracleError(`invalid image reference "${input}": ${why}`);
}

function validHost(domain: string): boolean {
  let host = domain;
  let port: string | undefined;
  const bracket = /^\[([0-9a-fA-F:]+)\](?::(\d+))?$/.exec(domain);
  if (bracket) return bracket[2] === undefined || /^\d+$/.test(bracket[2]);
  const colon = domain.lastIndexOf(':');
  if (colon >= 0) {
    host = domain.slice(0, colon);
    port = domain.slice(colon + 1);
    if (!/^\d+$/.test(port)) return false;
  }
  return host.split('.').every((l) => HOST_LABEL.test(l));
}

/** Parse and normalise a reference; throws CoracleError naming the input and the reason. */
export function parseReference(input: string): ImageReference {
  if (input.length === 0) throw invalid(input, 'empty');
  if (/\s/.test(input)) throw invalid(input, 'contains white space');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw invalid(input, `malformed digest "${digest}"`);
    if (digest.startsWith('sha256:') && !/^sha256:[a-f0-9]{64}$/.test(digest))
      throw invalid(input, 'a sha256 digest has 64 lower-case hex characters');
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw invalid(input, `malformed tag "${tag}"`);
  }
  if (rest.length === 0) throw invalid(input, 'missing repository name');

  let registry = DEFAULT_REGISTRY;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first) {
      registry = first;
      path = rest.slice(slash + 1);
      if (!validHost(registry)) throw invalid(input, `malformed registry host "${registry}"`);
    }
  }
  if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DEFAULT_REGISTRY;
  if (path.length === 0) throw invalid(input, 'missing repository name');
  for (const c of path.split('/')) {
    if (c.length === 0) throw invalid(input, 'empty path component');
    if (!COMPONENT.test(c)) {
      const why = c.toLowerCase() !== c ? 'repository names must be lower case' : `invalid path component "${c}"`;
      throw invalid(input, why);
    }
  }
  if (registry === DEFAULT_REGISTRY && !path.includes('/')) path = `library/${path}`;
  if (registry.length + 1 + path.length > MAX_NAME) throw invalid(input, `name longer than ${MAX_NAME} characters`);
  return { registry, repository: path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The reference with `:latest` added when it has neither tag nor digest. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  return ref.tag === undefined && ref.digest === undefined ? { ...ref, tag: DEFAULT_TAG } : ref;
}

/** Canonical form: `docker.io/library/alpine:3.20`, `host:5000/x@sha256:...`. */
export function formatReference(ref: ImageReference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** `registry/repository` without tag or digest. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Short form as docker prints it: `alpine:3.20`, `linuxkit/init:abc`. */
export function familiarReference(ref: ImageReference): string {
  let name = `${ref.registry}/${ref.repository}`;
  if (ref.registry === DEFAULT_REGISTRY) {
    name = ref.repository.startsWith('library/') ? ref.repository.slice('library/'.length) : ref.repository;
  }
  if (ref.tag !== undefined) name += `:${ref.tag}`;
  if (ref.digest !== undefined) name += `@${ref.digest}`;
  return name;
}

/** Normalise a reference string in one step (adds :latest when untagged). */
export function canonicalReference(input: string): string {
  return formatReference(withDefaultTag(parseReference(input)));
}

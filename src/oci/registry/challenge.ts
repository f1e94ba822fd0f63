/**
 * `WWW-Authenticate` parsing (RFC 7235): one header may carry several
 * challenges, each a scheme followed by comma-separated `name=value`
 * parameters whose quoted values may themselves hold commas.
 */
export interface Challenge {
  /** Lower-case scheme: `bearer`, `basic` ... */
  scheme: string;
  /** Parameter names lower-cased; values unquoted. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  const readBare = (): string => {
    const start = i;
    while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    // at the opening quote
    i++;
    let v = '';
    while (i < n && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < n) i++;
      v += header[i];
      i++;
    }
    i++; // closing quote
    return v;
  };

  while (i < n) {
    while (i < n && (header[i] === ',' || header[i] === ' ' || header[i] === '\t')) i++;
    if (i >= n) break;
    const scheme = readToken();
    if (scheme === '') {
      i++; // stray character: skip it rather than loop forever
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      skipWs();
      while (i < n && header[i] === ',') {
        i++;
        skipWs();
      }
      const save = i;
      const name = readToken();
      skipWs();
      if (name === '' || header[i] !== '=') {
        // Not a parameter: either a token68 value or the next challenge's scheme.
        i = save;
        const rest = /^[A-Za-z0-9\-._~+/]+=*/.exec(header.slice(i));
        const afterRest = rest ? header.slice(i + rest[0].length).trimStart() : '';
        if (rest && rest[0].endsWith('=') && (afterRest === '' || afterRest.startsWith(','))) {
          challenge.params.token68 = rest[0];
          i += rest[0].length;
        }
        break;
      }
      // `name==`, `name=` at the end or before a comma: a token68 (base64-ish) credential, not a parameter.
      const after = header[i + 1];
      if (Object.keys(challenge.params).length === 0 && (after === '=' || after === undefined || after === ',')) {
        let j = i;
        while (header[j] === '=') j++;
        challenge.params.token68 = header.slice(save, j);
        i = j;
        break;
      }
      i++; // '='
      skipWs();
      // Unquoted values are tokens by the RFC; registries also send bare URLs, so read up to a comma or blank.
      const value = header[i] === '"' ? readQuoted() : readBare();
      challenge.params[name.toLowerCase()] = value;
      skipWs();
      if (header[i] !== ',') break;
    }
  }
  return out;
}

/** Split a `scope` value: several scopes are separated by spaces. */
export function splitScopes(scope: string | undefined): string[] {
  return scope ? scope.split(/\s+/).filter((s) => s.length > 0) : [];
}

/** `repository:NAME:ACTIONS` */
export function repositoryScope(repository: string, actions: 'pull' | 'push' | 'pull,push'): string {
  return `repository:${repository}:${actions}`;
}

/**
 * Merge scopes so each resource appears once with the union of its actions
 * (`repository:a:pull` + `repository:a:push` -> `repository:a:pull,push`),
 * sorted so equal sets give equal cache keys.
 */
export function normaliseScopes(scopes: Iterable<string>): string[] {
  const byResource = new Map<string, Set<string>>();
  const others = new Set<string>();
  for (const s of scopes) {
    const last = s.lastIndexOf(':');
    const first = s.indexOf(':');
    if (first < 0 || last === first) {
      others.add(s);
      continue;
    }
    const resource = s.slice(0, last);
    const actions = byResource.get(resource) ?? new Set<string>();
    for (const a of s.slice(last + 1).split(',')) if (a) actions.add(a);
    byResource.set(resource, actions);
  }
  const merged = [...byResource].map(([r, a]) => `${r}:${[...a].sort().join(',')}`);
  return [...merged, ...others].sort();
}

import { describe, expect, it } from 'vitest';
import { normaliseScopes, parseWwwAuthenticate, splitScopes } from '../../../../src/oci/registry/challenge.js';

describe('WWW-Authenticate parsing', () => {
  it('reads a Basic challenge', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  });

  it('reads a Bearer challenge with realm, service and scope', () => {
    const h = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"';
    expect(parseWwwAuthenticate(h)).toEqual([
      {
        scheme: 'bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
      },
    ]);
  });

  it('keeps commas inside quoted values and unescapes quoted pairs', () => {
    const h = 'Bearer realm="http://127.0.0.1:1/token",scope="repository:a:pull,push",error="insufficient_scope",x="say \\"hi\\""';
    const [c] = parseWwwAuthenticate(h);
    expect(c!.params).toEqual({ realm: 'http://127.0.0.1:1/token', scope: 'repository:a:pull,push', error: 'insufficient_scope', x: 'say "hi"' });
  });

  it('splits several challenges in one header, with spaces and unquoted values', () => {
    const h = 'Basic realm="basic, realm" , Bearer realm=http://h/token, service = reg , Negotiate abc123==';
    expect(parseWwwAuthenticate(h)).toEqual([
      { scheme: 'basic', params: { realm: 'basic, realm' } },
      { scheme: 'bearer', params: { realm: 'http://h/token', service: 'reg' } },
      { scheme: 'negotiate', params: { token68: 'abc123==' } },
    ]);
  });

  it('copes with empty and odd input', () => {
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate('Bearer')).toEqual([{ scheme: 'bearer', params: {} }]);
    expect(parseWwwAuthenticate('BEARER REALM="r"')[0]).toEqual({ scheme: 'bearer', params: { realm: 'r' } });
  });

  it('splits and merges scopes', () => {
    expect(splitScopes('repository:a:pull  repository:b:pull,push')).toEqual(['repository:a:pull', 'repository:b:pull,push']);
    expect(normaliseScopes(['repository:b:push', 'repository:a:pull', 'repository:b:pull', 'registry:catalog:*'])).toEqual([
      'registry:catalog:*',
      'repository:a:pull',
      'repository:b:pull,push',
    ]);
    // Host:port in a repository scope stays intact (the actions are after the last colon).
    expect(normaliseScopes(['repository:localhost:5000/x:pull'])).toEqual(['repository:localhost:5000/x:pull']);
  });
});

import { describe, expect, it } from 'vitest';
import { canonicalReference, familiarReference, parseReference } from '../../../src/oci/ref.js';

describe('parseReference', () => {
  it.each([
    ['alpine', 'docker.io/library/alpine:latest'],
    ['alpine:3.20', 'docker.io/library/alpine:3.20'],
    ['linuxkit/init:8eea386739975a43af558eec757a7dcb3a3d2e7b', 'docker.io/linuxkit/init:8eea386739975a43af558eec757a7dcb3a3d2e7b'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['localhost/foo', 'localhost/foo:latest'],
    ['localhost:5000/a/b/c:v1', 'localhost:5000/a/b/c:v1'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest'],
    ['ghcr.io/org/img@sha256:' + 'a'.repeat(64), 'ghcr.io/org/img@sha256:' + 'a'.repeat(64)],
    ['quay.io/a/b:t@sha256:' + 'b'.repeat(64), 'quay.io/a/b:t@sha256:' + 'b'.repeat(64)],
    ['my_repo/with-dash__x.y', 'docker.io/my_repo/with-dash__x.y:latest'],
  ])('%s -> %s', (input, want) => {
    expect(canonicalReference(input)).toBe(want);
  });

  it.each([
    ['', 'empty'],
    ['Alpine', 'lower case'],
    ['alpine:', 'malformed tag'],
    ['alpine:-x', 'malformed tag'],
    ['alpine@sha256:abc', 'malformed digest'],
    ['alpine@sha256:' + 'a'.repeat(40), '64 lower-case hex'],
    ['a//b', 'empty path component'],
    ['host:port/x', 'malformed registry host'],
    ['foo bar', 'white space'],
    ['/x', 'empty path component'],
    ['x/', 'empty path component'],
  ])('rejects %j (%s)', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });

  it('prints familiar names', () => {
    expect(familiarReference(parseReference('alpine:3'))).toBe('alpine:3');
    expect(familiarReference(parseReference('linuxkit/getty:v1'))).toBe('linuxkit/getty:v1');
    expect(familiarReference(parseReference('localhost:5000/x:1'))).toBe('localhost:5000/x:1');
  });
});

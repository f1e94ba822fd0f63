import { describe, it, expect } from 'vitest';
import { Readable, PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { parsePlatform, formatPlatform, hostPlatform, platformMatches, selectManifest } from '../../../src/oci/platform.js';
import { DigestStream, isDigest, parseDigest, sha256Digest, verifyBytes, digestOfStream } from '../../../src/oci/digest.js';
import { CoracleError } from '../../../src/errors.js';
import type { ImageIndex, Descriptor } from '../../../src/oci/types.js';

const d = (n: number, platform?: Descriptor['platform'], annotations?: Record<string, string>): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
  size: 100 + n,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});

describe('parsePlatform', () => {
  it('parses os/arch[/variant] and normalises aliases', () => {
    expect(parsePlatform('linux/amd64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(parsePlatform('linux/x86_64')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(parsePlatform('linux/aarch64')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(parsePlatform('linux/armhf')).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
  });
  it('rejects malformed platforms with a clear message', () => {
    expect(() => parsePlatform('amd64')).toThrow(CoracleError);
    expect(() => parsePlatform('amd64')).toThrow('invalid platform "amd64": missing architecture (expected os/arch[/variant]');
    expect(() => parsePlatform('linux//v7')).toThrow(/empty part/);
    expect(() => parsePlatform('linux/arm/v7/x')).toThrow(/too many parts/);
    expect(() => parsePlatform('linux/am d64')).toThrow(/characters other than/);
  });
  it('formats back', () => {
    expect(formatPlatform(parsePlatform('linux/arm/v6'))).toBe('linux/arm/v6');
  });
});

describe('hostPlatform', () => {
  it('maps Node arch names to OCI ones', () => {
    expect(hostPlatform('x64', 'linux')).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(hostPlatform('arm64', 'linux')).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(hostPlatform('ia32', 'linux')).toEqual({ os: 'linux', architecture: '386' });
    expect(hostPlatform('s390x', 'linux')).toEqual({ os: 'linux', architecture: 's390x' });
    expect(hostPlatform().os).toBe(process.platform);
  });
});

describe('platformMatches', () => {
  it('treats arm64 and arm64/v8 as the same, variants otherwise exact', () => {
    expect(platformMatches({ os: 'linux', architecture: 'arm64' }, { os: 'linux', architecture: 'arm64', variant: 'v8' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'arm', variant: 'v6' }, { os: 'linux', architecture: 'arm' })).toBe(true);
    expect(platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' })).toBe(false);
    expect(platformMatches({ os: 'linux', architecture: 'x86_64' }, { os: 'linux', architecture: 'amd64' })).toBe(true);
  });
});

describe('selectManifest', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [
      d(1, { os: 'linux', architecture: 'amd64', variant: 'v3' }),
      d(2, { os: 'linux', architecture: 'amd64' }),
      d(3, { os: 'linux', architecture: 'arm64' }),
      d(4, { os: 'linux', architecture: 'arm', variant: 'v7' }),
      d(5, { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest' }),
    ],
  };
  it('selects the exact platform', () => {
    expect(selectManifest(index, { os: 'linux', architecture: 'amd64' }, 'x').size).toBe(102);
    expect(selectManifest(index, { os: 'linux', architecture: 'amd64', variant: 'v3' }, 'x').size).toBe(101);
    expect(selectManifest(index, { os: 'linux', architecture: 'arm64', variant: 'v8' }, 'x').size).toBe(103);
    expect(selectManifest(index, parsePlatform('linux/arm/v7'), 'x').size).toBe(104);
  });
  it('names the image and lists what is there when the platform is missing', () => {
    expect(() => selectManifest(index, parsePlatform('linux/riscv64'), 'docker.io/library/alpine:3.20')).toThrow(
      'docker.io/library/alpine:3.20: no image for platform linux/riscv64; available: linux/amd64/v3, linux/amd64, linux/arm64, linux/arm/v7',
    );
    expect(() => selectManifest(index, parsePlatform('linux/arm/v6'), 'img')).toThrow(CoracleError);
  });
  it('takes the only entry of a single-image index without platform', () => {
    expect(selectManifest({ schemaVersion: 2, manifests: [d(7)] }, parsePlatform('linux/s390x'), 'x').size).toBe(107);
  });
});

describe('digest helpers', () => {
  const data = Buffer.from('hello');
  const good = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  it('validates and computes', () => {
    expect(sha256Digest(data)).toBe(good);
    expect(isDigest(good)).toBe(true);
    expect(isDigest('sha256:ABC')).toBe(false);
    expect(() => parseDigest('sha256:xyz', 'image foo')).toThrow('invalid digest "sha256:xyz" in image foo');
    expect(() => verifyBytes(data, { digest: good, size: 5 }, 'blob')).not.toThrow();
    expect(() => verifyBytes(Buffer.from('hellO'), { digest: good }, 'blob')).toThrow(/blob: digest mismatch/);
    expect(() => verifyBytes(data, { digest: good, size: 6 }, 'blob')).toThrow(/size mismatch/);
  });
  it('hashes while streaming and fails on mismatch', async () => {
    const ok = new DigestStream({ digest: good, size: 5 });
    const sink = new PassThrough();
    sink.resume();
    await pipeline(Readable.from([Buffer.from('he'), Buffer.from('llo')]), ok, sink);
    expect(ok.digest()).toBe(good);
    expect(ok.size).toBe(5);
    const bad = new DigestStream({ digest: good }, 'layer x');
    const sink2 = new PassThrough();
    sink2.resume();
    await expect(pipeline(Readable.from([Buffer.from('nope')]), bad, sink2)).rejects.toThrow(/layer x: digest mismatch/);
    expect(await digestOfStream(Readable.from([data]))).toEqual({ digest: good, size: 5 });
  });
});

import { describe, expect, it } from 'vitest';
import { debSrcSources, sourceOfBinary } from '../../../src/debian/source-package.js';
import { describeSources, parseDeb822Sources } from '../../../src/debian/sources.js';

describe('Debian source packages', () => {
  it('a binary without a Source field came from the source of its own name and version', () => {
    expect(sourceOfBinary({ name: 'crun', version: '1.8.1-1+deb12u1' }, undefined)).toEqual({ name: 'crun', version: '1.8.1-1+deb12u1' });
  });

  it('a Source field names the source, with its version when it differs (binary-only rebuilds)', () => {
    expect(sourceOfBinary({ name: 'libcap2', version: '1:2.66-4' }, 'libcap2')).toEqual({ name: 'libcap2', version: '1:2.66-4' });
    expect(sourceOfBinary({ name: 'golang-1.19-go', version: '1.19.8-2+b1' }, 'golang-1.19 (1.19.8-2)')).toEqual({ name: 'golang-1.19', version: '1.19.8-2' });
    expect(() => sourceOfBinary({ name: 'x', version: '1' }, 'x (1) junk')).toThrow(/unreadable Source field/);
  });

  it('the deb-src twin of a sources file keeps archives, suites, components and keys', () => {
    const text = [
      '# the default',
      'Types: deb',
      'URIs: http://deb.debian.org/debian',
      'Suites: bookworm bookworm-updates',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
      'Types: deb-src',
      'URIs: http://example.org/only-sources',
      'Suites: x',
      'Components: main',
      '',
      'Types: deb',
      'URIs: http://deb.debian.org/debian-security',
      'Suites: bookworm-security',
      'Components: main',
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
      '',
    ].join('\n');
    const twin = debSrcSources(text);
    const parsed = parseDeb822Sources(twin);
    expect(parsed).toEqual([
      { types: ['deb-src'], uris: ['http://deb.debian.org/debian'], suites: ['bookworm', 'bookworm-updates'], components: ['main'] },
      { types: ['deb-src'], uris: ['http://deb.debian.org/debian-security'], suites: ['bookworm-security'], components: ['main'] },
    ]);
    expect(twin.match(/Signed-By: \/usr\/share\/keyrings\/debian-archive-keyring\.gpg/g)).toHaveLength(2);
    expect(describeSources(parsed)).toBe('deb-src http://deb.debian.org/debian bookworm bookworm-updates (main); deb-src http://deb.debian.org/debian-security bookworm-security (main)');
  });
});

import { describe, expect, it } from 'vitest';
import { describeSources, parseDeb822Sources } from '../../../src/debian/sources.js';

describe('deb822 sources', () => {
  it('parses stanzas, skips comments and disabled ones', () => {
    const s = parseDeb822Sources(
      [
        'Types: deb',
        '# a comment',
        'URIs: http://deb.debian.org/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb deb-src',
        'URIs: http://deb.debian.org/debian-security',
        'Suites: bookworm-security',
        'Components: main contrib',
        '',
        'Enabled: no',
        'Types: deb',
        'URIs: http://example.invalid/',
        'Suites: x',
        'Components: main',
      ].join('\n'),
    );
    expect(s).toHaveLength(2);
    expect(s[1]).toEqual({ types: ['deb', 'deb-src'], uris: ['http://deb.debian.org/debian-security'], suites: ['bookworm-security'], components: ['main', 'contrib'] });
    expect(describeSources(s)).toBe(
      'http://deb.debian.org/debian bookworm bookworm-updates (main); http://deb.debian.org/debian-security bookworm-security (main contrib)',
    );
  });
});

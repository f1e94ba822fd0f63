import { readFile } from 'node:fs/promises';

/** One stanza of a deb822 `.sources` file: what apt looks packages up in. */
export interface AptSource {
  types: string[];
  uris: string[];
  suites: string[];
  components: string[];
}

/** The host's deb822 sources file, the one Debian 12 ships by default. */
export const HOST_SOURCES_FILE = '/etc/apt/sources.list.d/debian.sources';

/** Parse deb822 stanzas (blank-line separated `Key: value` fields; `#` comments). */
export function parseDeb822Sources(text: string): AptSource[] {
  const out: AptSource[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const raw of block.split('\n')) {
      if (raw.startsWith('#') || raw.trim() === '') continue;
      if (/^\s/.test(raw) && last) {
        fields.set(last, `${fields.get(last)} ${raw.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(raw);
      if (!m) continue;
      last = m[1]!.toLowerCase();
      fields.set(last, m[2]!.trim());
    }
    if (!fields.has('uris')) continue;
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const words = (k: string) => (fields.get(k) ?? '').split(/\s+/).filter(Boolean);
    out.push({ types: words('types'), uris: words('uris'), suites: words('suites'), components: words('components') });
  }
  return out;
}

/** Human description of where apt looked: `http://deb.debian.org/debian bookworm bookworm-updates (main)`. */
export function describeSources(sources: AptSource[]): string {
  return sources
    .filter((s) => s.types.includes('deb'))
    .map((s) => `${s.uris.join(' ')} ${s.suites.join(' ')} (${s.components.join(' ')})`)
    .join('; ');
}

export async function readSourcesFile(path: string): Promise<AptSource[]> {
  return parseDeb822Sources(await readFile(path, 'utf8'));
}

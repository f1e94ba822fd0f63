/**
 * The examples build and boot "as they are": they validate, and every
 * coracle/NAME image they pin is exactly what `coracle pkg show-tag
 * images/NAME` gives for today's definition (a changed definition means a
 * new tag, and the examples must follow).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot, runCli } from '../helpers/cli.js';

const dir = join(projectRoot, 'examples');

describe('examples', async () => {
  const specs = (await readdir(dir)).filter((f) => f.endsWith('.yml')).sort();

  it('has the three documented examples', () => {
    expect(specs).toEqual(expect.arrayContaining(['minimal.yml', 'sshd.yml', 'web.yml']));
  });

  it.each(specs)('%s validates', async (f) => {
    const r = await runCli(['validate', join(dir, f)]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('pins every coracle/ image to its current tag', async () => {
    const pinned = new Map<string, Set<string>>();
    for (const f of specs) {
      for (const m of (await readFile(join(dir, f), 'utf8')).matchAll(/\bcoracle\/([a-z0-9-]+):([0-9a-f]+)/g)) {
        const set = pinned.get(m[1]!) ?? new Set<string>();
        set.add(`${m[2]} (${f})`);
        pinned.set(m[1]!, set);
      }
    }
    const names = [...pinned.keys()].sort();
    const r = await runCli(['pkg', 'show-tag', ...names.map((n) => join('images', n))], { timeout: 600_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    const current = new Map(r.stdout.trim().split('\n').map((l) => {
      const m = /coracle\/([a-z0-9-]+):([0-9a-f]+)$/.exec(l.trim());
      return [m?.[1] ?? l, m?.[2] ?? ''] as const;
    }));
    const stale: string[] = [];
    for (const [name, uses] of pinned) for (const u of uses) if (!u.startsWith(`${current.get(name)} `)) stale.push(`coracle/${name}:${u} -> ${current.get(name)}`);
    expect(stale, 'update the examples with `coracle pkg show-tag`').toEqual([]);
  });
});

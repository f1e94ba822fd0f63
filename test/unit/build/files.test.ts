import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesEntries, parentDirMode } from '../../../src/build/files.js';
import { CoracleError } from '../../../src/errors.js';
import type { InitrdEntry } from '../../../src/initrd/types.js';
import { allocateIds } from '../../../src/runtime/ids.js';
import { loadSpecs } from '../../../src/spec/index.js';

let dir: string;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-files-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Write the YAML as a spec file in its own folder (plus `extra` files beside it) and run filesEntries on it. */
async function files(yaml: string, opts: { extra?: Record<string, string>; existingDirs?: string[]; allowOutsideSources?: boolean } = {}): Promise<{ entries: InitrdEntry[]; file: string }> {
  const folder = join(dir, `s${n++}`);
  await mkdir(folder, { recursive: true });
  for (const [p, c] of Object.entries(opts.extra ?? {})) {
    await mkdir(join(folder, p, '..'), { recursive: true });
    await writeFile(join(folder, p), c);
  }
  const file = join(folder, 'spec.yml');
  await writeFile(file, yaml);
  const { spec } = await loadSpecs([file]);
  const entries = await filesEntries({ spec, ids: allocateIds(spec), existingDirs: new Set(opts.existingDirs ?? []), allowOutsideSources: opts.allowOutsideSources === true });
  return { entries, file };
}

function byPath(entries: InitrdEntry[]): Record<string, InitrdEntry> {
  return Object.fromEntries(entries.map((e) => [e.path, e]));
}
const data = (e: InitrdEntry | undefined): string => {
  if (e?.type !== 'file' || e.data?.kind !== 'buffer') throw new Error(`not a file: ${JSON.stringify(e)}`);
  return Buffer.from(e.data.data).toString('utf8');
};
const oct = (m: number | undefined) => m?.toString(8);

describe('files: modes and parents (LinuxKit rules)', () => {
  it('files default to 0600, directories to 0700; explicit modes kept', async () => {
    const { entries } = await files(`
files:
  - path: a
    contents: x
  - path: d
    directory: true
  - path: b
    contents: y
    mode: "0755"
`);
    const m = byPath(entries);
    expect(oct(m.a!.mode)).toBe('600');
    expect(m.a!.type).toBe('file');
    expect(oct(m.d!.mode)).toBe('700');
    expect(m.d!.type).toBe('dir');
    expect(oct(m.b!.mode)).toBe('755');
  });

  it('implicit parents get the entry mode plus x where a class may read or write, and the entry owner', async () => {
    expect(oct(parentDirMode(0o644))).toBe('755');
    expect(oct(parentDirMode(0o600))).toBe('700');
    expect(oct(parentDirMode(0o640))).toBe('750');
    expect(oct(parentDirMode(0o604))).toBe('705');
    expect(oct(parentDirMode(0o000))).toBe('0');
    const { entries } = await files(`
files:
  - path: etc/app/conf.d/x.conf
    contents: x
    mode: "0640"
    uid: 7
    gid: 8
  - path: /srv/www/
    directory: true
`);
    const m = byPath(entries);
    for (const p of ['etc', 'etc/app', 'etc/app/conf.d']) expect(m[p], p).toMatchObject({ type: 'dir', mode: 0o750, uid: 7, gid: 8 });
    expect(m['etc/app/conf.d/x.conf']).toMatchObject({ type: 'file', mode: 0o640, uid: 7, gid: 8 });
    expect(m.srv).toMatchObject({ type: 'dir', mode: 0o700, uid: 0, gid: 0 });
    expect(m['srv/www']).toMatchObject({ type: 'dir', mode: 0o700 });
    // parents first, stable order
    expect(entries.map((e) => e.path)).toEqual(['etc', 'etc/app', 'etc/app/conf.d', 'etc/app/conf.d/x.conf', 'srv', 'srv/www']);
  });

  it('directories the init images create are left alone', async () => {
    const { entries } = await files(
      `
files:
  - path: etc/ssh/sshd_config
    contents: x
`,
      { existingDirs: ['etc'] },
    );
    expect(entries.map((e) => e.path)).toEqual(['etc/ssh', 'etc/ssh/sshd_config']);
  });

  it('a symlink and a directory entry; uid/gid given as a container name', async () => {
    const { entries } = await files(`
onboot:
  - name: format
    image: x/format:1
services:
  - name: sshd
    image: x/sshd:1
files:
  - path: etc/localtime
    symlink: /usr/share/zoneinfo/UTC
  - path: var/lib/sshd
    directory: true
    uid: sshd
    gid: format
  - path: root
    directory: true
    uid: root
`);
    const m = byPath(entries);
    expect(m['etc/localtime']).toMatchObject({ type: 'symlink', linkTarget: '/usr/share/zoneinfo/UTC' });
    // LinuxKit allocates 100, 101 ... in onboot, onshutdown, services order
    expect(m['var/lib/sshd']).toMatchObject({ type: 'dir', uid: 101, gid: 100, mode: 0o700 });
    expect(m['var/lib']).toMatchObject({ uid: 101, gid: 100 });
    expect(m.root).toMatchObject({ uid: 0, gid: 0 });
  });
});

describe('files: sources', () => {
  it('source is read relative to the spec file folder, and from ~/ when outside sources are allowed', async () => {
    const home = join(dir, 'home');
    await mkdir(home, { recursive: true });
    await writeFile(join(home, 'key.pub'), 'ssh-ed25519 AAAA me\n');
    const saved = process.env.HOME;
    process.env.HOME = home;
    try {
      const { entries } = await files(
        `
files:
  - path: etc/motd
    source: conf/motd.txt
  - path: root/.ssh/authorized_keys
    source: ~/key.pub
`,
        { extra: { 'conf/motd.txt': 'hello from beside the spec\n' }, allowOutsideSources: true },
      );
      const m = byPath(entries);
      expect(data(m['etc/motd'])).toBe('hello from beside the spec\n');
      expect(data(m['root/.ssh/authorized_keys'])).toBe('ssh-ed25519 AAAA me\n');
    } finally {
      process.env.HOME = saved;
    }
  });

  it('an optional missing source is skipped (no parents made for it either)', async () => {
    const { entries } = await files(`
files:
  - path: opt/maybe/thing
    source: not-here
    optional: true
  - path: etc/x
    contents: x
`);
    expect(entries.map((e) => e.path)).toEqual(['etc', 'etc/x']);
  });

  it('a missing non-optional source is an error naming file:line:col', async () => {
    const err = await files(`files:
  - path: etc/x
    contents: x
  - path: etc/missing
    source: nothere.txt
`).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err).toBeInstanceOf(CoracleError);
    // the second item of files: starts on line 4, column 5
    expect(err!.message).toMatch(/spec\.yml:4:5: files: etc\/missing: source .*nothere\.txt does not exist/);
  });
});

describe('files: metadata', () => {
  const yaml = `kernel:
  image: x/kernel:1
  cmdline: console=ttyS0
init:
  - x/init:1
services:
  - name: web
    image: x/web:1
files:
  - path: etc/spec.yml
    metadata: yaml
  - path: etc/spec.json
    metadata: json
`;
  it('metadata: yaml and json hold the build spec, in LinuxKit spelling', async () => {
    const { entries } = await files(yaml);
    const m = byPath(entries);
    const y = parseYaml(data(m['etc/spec.yml'])) as Record<string, unknown>;
    const j = JSON.parse(data(m['etc/spec.json'])) as Record<string, unknown>;
    for (const doc of [y, j]) {
      expect(doc.kernel).toMatchObject({ image: 'x/kernel:1', cmdline: 'console=ttyS0' });
      expect(doc.init).toEqual(['x/init:1']);
      expect(doc.services).toEqual([expect.objectContaining({ name: 'web', image: 'x/web:1' })]);
    }
    expect(JSON.stringify(j)).not.toMatch(/"loc"|"line"|"col"/);
    expect(oct(m['etc/spec.json']!.mode)).toBe('600');
  });
});

describe('files: sources outside the spec folder', () => {
  for (const source of ['../../../../../../etc/shadow', '/etc/passwd', '~/key.pub', 'link/passwd']) {
    it(`${source} is refused by default, naming file:line:col and the flag`, async () => {
      const outside = join(dir, `outside-${n}`);
      await mkdir(outside, { recursive: true });
      const folder = join(dir, `s${n}`);
      await mkdir(folder, { recursive: true });
      // a symlink inside the folder that leads out of it
      await symlink('/etc', join(folder, 'link')).catch(() => undefined);
      const err = await files(`files:\n  - path: etc/x\n    source: ${source}\n`).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err).toBeInstanceOf(CoracleError);
      expect(err!.message).toMatch(/spec\.yml:2:5: files: etc\/x: source .* is outside the spec's folder .* \(give --allow-outside-sources to read it\)/);
    });
  }
});

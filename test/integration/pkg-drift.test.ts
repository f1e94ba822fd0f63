/**
 * The Debian archive moves under a build: a local file:// apt repository,
 * made here from tiny .debs built with dpkg-deb, first offers version 1.0 of
 * a package, then 1.0 and 2.0, then only 2.0 (a point release dropped 1.0).
 * A build.lock keeps 1.0 while it is there and fails with one clear line once
 * it is gone; a spec naming the definition as `@pkg:` builds at every step;
 * a system lock rebuilds exactly what it recorded.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

let work: string;
let repo: string;
let sources: string;
let phase = 0;
let debCache: string;

/** A fresh apt state for each archive change: lists read anew, no .deb cached from before. */
function newDebianCache(): void {
  debCache = join(work, `debian-${++phase}`);
}

async function makeDeb(version: string): Promise<Buffer> {
  const root = join(work, `pkg-${version}`);
  await mkdir(join(root, 'DEBIAN'), { recursive: true });
  await mkdir(join(root, 'usr/share/hello'), { recursive: true });
  await writeFile(join(root, 'DEBIAN/control'), `Package: coracle-hello\nVersion: ${version}\nArchitecture: all\nMaintainer: Coracle tests <tests@coracle.invalid>\nDescription: drift test package\n`);
  await writeFile(join(root, 'usr/share/hello/version'), `${version}\n`);
  const deb = join(work, `coracle-hello_${version}_all.deb`);
  await execa('dpkg-deb', ['--root-owner-group', '-Zgzip', '-b', root, deb], { env: { SOURCE_DATE_EPOCH: '0' } });
  return readFile(deb);
}

const debs = new Map<string, Buffer>();

/** Serve exactly these versions (a flat repository: Packages beside the .debs). */
async function offer(versions: string[]): Promise<void> {
  await rm(repo, { recursive: true, force: true });
  await mkdir(repo, { recursive: true });
  const stanzas: string[] = [];
  for (const v of versions) {
    const body = debs.get(v)!;
    const file = `coracle-hello_${v}_all.deb`;
    await writeFile(join(repo, file), body);
    const sha = createHash('sha256').update(body).digest('hex');
    stanzas.push(
      `Package: coracle-hello\nVersion: ${v}\nArchitecture: all\nMaintainer: Coracle tests <tests@coracle.invalid>\nDescription: drift test package\nFilename: ./${file}\nSize: ${body.length}\nSHA256: ${sha}\n`,
    );
  }
  await writeFile(join(repo, 'Packages'), `${stanzas.join('\n')}`);
  newDebianCache();
}

const cli = (args: string[]) => runCli(['--cache', join(work, 'store'), ...args]);
const pkg = (sub: string, dir: string, ...extra: string[]) => cli(['pkg', sub, '--sources', sources, '--debian-cache', debCache, ...extra, dir]);

/** Build the spec as a tar and read the package's version file from the hello service's root. */
async function builtVersion(spec: string, ...extra: string[]): Promise<{ version: string; stderr: string; exitCode: number }> {
  const out = join(work, 'out');
  const r = await cli(['build', spec, '--format', 'tar', '-o', out, '--sources', sources, '--debian-cache', debCache, ...extra]);
  if (r.exitCode !== 0) return { version: '', stderr: r.stderr, exitCode: r.exitCode };
  const t = await execa('tar', ['-xOf', join(out, 'system.tar'), '--wildcards', '*services/hello/rootfs/usr/share/hello/version']);
  return { version: t.stdout.trim(), stderr: r.stderr, exitCode: 0 };
}

let locked: string;
let floating: string;
let spec: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'coracle-drift-'));
  repo = join(work, 'repo');
  sources = join(work, 'drift.sources');
  await writeFile(sources, `Types: deb\nURIs: file:${repo}\nSuites: ./\nTrusted: yes\n`);
  for (const v of ['1.0', '2.0']) debs.set(v, await makeDeb(v));
  for (const name of ['locked', 'floating']) {
    await mkdir(join(work, 'images', name), { recursive: true });
    await writeFile(join(work, 'images', name, 'build.yml'), 'description: one tiny package\ndebian:\n  packages: [coracle-hello]\n');
  }
  locked = join(work, 'images', 'locked');
  floating = join(work, 'images', 'floating');
  spec = join(work, 'system.yml');
  await writeFile(spec, 'services:\n  - name: hello\n    image: "@pkg:images/floating"\n    command: ["/bin/true"]\n');
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the archive moves', () => {
  it('version 1.0 only: pkg lock records it with its .deb sha256', async () => {
    await offer(['1.0']);
    const r = await pkg('lock', locked);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^locked .*images\/locked\/build\.lock \(1 packages\)$/m);
    const lock = await readFile(join(locked, 'build.lock'), 'utf8');
    expect(lock).toContain('version: "1.0"');
    expect(lock).toContain(createHash('sha256').update(debs.get('1.0')!).digest('hex'));
    expect((await pkg('lock', locked)).stdout).toMatch(/^up-to-date /m);
    expect((await builtVersion(spec)).version).toBe('1.0');
  });

  it('1.0 and 2.0: the lock keeps 1.0, an unlocked definition follows the archive to 2.0', async () => {
    const before = (await pkg('show-tag', locked)).stdout;
    await offer(['1.0', '2.0']);
    expect((await pkg('show-tag', locked)).stdout).toBe(before);
    const b = await pkg('build', locked);
    expect(b.exitCode, b.stderr).toBe(0);
    const lockedSpec = join(work, 'locked.yml');
    await writeFile(lockedSpec, 'services:\n  - name: hello\n    image: "@pkg:images/locked"\n    command: ["/bin/true"]\n');
    expect((await builtVersion(lockedSpec)).version).toBe('1.0');
    expect((await builtVersion(spec)).version).toBe('2.0');
  });

  it('a system lock rebuilds the recorded digests, and names an image it lacks', async () => {
    const first = await builtVersion(spec, '--lock');
    expect(first.exitCode, first.stderr).toBe(0);
    const lockText = await readFile(join(work, 'system.lock.yml'), 'utf8');
    expect(lockText).toContain('image: "@pkg:./images/floating"');
    const tarA = await readFile(join(work, 'out', 'system.tar'));
    const again = await builtVersion(spec, '--locked');
    expect(again.exitCode, again.stderr).toBe(0);
    expect(Buffer.compare(await readFile(join(work, 'out', 'system.tar')), tarA)).toBe(0);
    const other = join(work, 'other.yml');
    await writeFile(other, 'services:\n  - name: hello\n    image: "@pkg:images/locked"\n    command: ["/bin/true"]\n');
    await cp(join(work, 'system.lock.yml'), join(work, 'other.lock.yml'));
    const r = await cli(['build', other, '--format', 'tar', '-o', join(work, 'out2'), '--locked']);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/--locked: image .*images\/locked is not in .*other\.lock\.yml/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('2.0 only: the locked build fails in one line naming the package and version, @pkg: specs still build', async () => {
    await offer(['2.0']);
    const r = await pkg('build', locked, '--force');
    expect(r.exitCode).not.toBe(0);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('coracle:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/images\/locked\/build\.lock: coracle-hello 1\.0 is no longer in the Debian archive; run `coracle pkg lock --update /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect((await builtVersion(spec)).version).toBe('2.0');
    // the documented way out
    const u = await pkg('lock', locked, '--update');
    expect(u.exitCode, u.stderr).toBe(0);
    expect(await readFile(join(locked, 'build.lock'), 'utf8')).toContain('version: "2.0"');
    expect((await pkg('build', locked)).exitCode).toBe(0);
  });

  it('a lock that no longer answers build.yml is refused, not silently used', async () => {
    await writeFile(join(locked, 'build.yml'), 'debian:\n  packages: [coracle-hello, coracle-other]\n');
    const r = await pkg('build', locked);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/build\.lock is out of date: build.yml's debian packages changed/);
  });
});

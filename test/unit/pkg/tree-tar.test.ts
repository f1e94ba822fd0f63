import { describe, expect, it } from 'vitest';
import { chmod, link, mkdir, mkdtemp, symlink, utimes, writeFile, copyFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { readTar } from '../../../src/tar/index.js';
import { writeTreeTar } from '../../../src/pkg/tree-tar.js';
import { pruneLibraries, removeMatching } from '../../../src/pkg/stage.js';

async function tarOf(dir: string, meta?: Map<string, { mode?: number; uid?: number; gid?: number }>): Promise<Buffer> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  await writeTreeTar(dir, out, { mtime: 1234, meta });
  return Buffer.concat(chunks);
}

async function tree(root: string, fileMode: number, dirMode: number, mtime: number): Promise<string> {
  const d = join(root, `t${fileMode.toString(8)}`);
  await mkdir(join(d, 'usr/bin'), { recursive: true });
  await mkdir(join(d, 'etc'), { recursive: true });
  await writeFile(join(d, 'etc/b'), 'bee\n');
  await writeFile(join(d, 'etc/a'), 'ay\n');
  await writeFile(join(d, 'usr/bin/tool'), '#!/bin/sh\n');
  await chmod(join(d, 'etc/a'), fileMode);
  await chmod(join(d, 'usr/bin/tool'), fileMode | 0o111);
  await link(join(d, 'usr/bin/tool'), join(d, 'usr/bin/tool2'));
  await symlink('tool', join(d, 'usr/bin/t'));
  await chmod(join(d, 'etc'), dirMode);
  await utimes(join(d, 'etc/a'), mtime, mtime);
  return d;
}

describe('deterministic tree tar', () => {
  it('gives the same bytes whatever the modes, umask and times on disk', async () => {
    const root = await mkdtemp(join(tmpdir(), 'coracle-tt-'));
    const a = await tarOf(await tree(root, 0o600, 0o700, 1));
    const b = await tarOf(await tree(root, 0o664, 0o775, 99999));
    expect(a.equals(b)).toBe(true);
  });

  it('sorts entries, sets owners and times, normalises modes, applies overrides, links hardlinks', async () => {
    const root = await mkdtemp(join(tmpdir(), 'coracle-tt-'));
    const d = await tree(root, 0o640, 0o700, 5);
    const buf = await tarOf(d, new Map([['etc/b', { mode: 0o600, uid: 1000, gid: 50 }]]));
    const seen: Array<{ path: string; type: string; mode: number; uid: number; gid: number; mtime: number; linkpath: string }> = [];
    for await (const e of readTar(PassThrough.from([buf]))) {
      seen.push({ path: e.path, type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, linkpath: e.linkpath });
      await e.skip();
    }
    expect(seen.map((e) => e.path.replace(/\/$/, ''))).toEqual(['etc', 'etc/a', 'etc/b', 'usr', 'usr/bin', 'usr/bin/t', 'usr/bin/tool', 'usr/bin/tool2']);
    const by = Object.fromEntries(seen.map((e) => [e.path.replace(/\/$/, ''), e]));
    expect(by['etc']!.mode).toBe(0o755);
    expect(by['etc/a']!.mode).toBe(0o644);
    expect(by['etc/b']).toMatchObject({ mode: 0o600, uid: 1000, gid: 50 });
    expect(by['usr/bin/tool']!.mode).toBe(0o755);
    expect(by['usr/bin/tool2']).toMatchObject({ type: 'hardlink', linkpath: 'usr/bin/tool' });
    expect(by['usr/bin/t']).toMatchObject({ type: 'symlink', linkpath: 'tool' });
    expect(seen.every((e) => e.mtime === 1234 && (e.path === 'etc/b' || (e.uid === 0 && e.gid === 0)))).toBe(true);
  });
});

describe('pruning', () => {
  it('keeps the libraries a program needs and drops the rest', async () => {
    const d = await mkdtemp(join(tmpdir(), 'coracle-prune-'));
    await mkdir(join(d, 'usr/sbin'), { recursive: true });
    await mkdir(join(d, 'lib/x86_64-linux-gnu'), { recursive: true });
    await mkdir(join(d, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
    await mkdir(join(d, 'lib64'), { recursive: true });
    await copyFile('/usr/sbin/runc', join(d, 'usr/sbin/runc'));
    await copyFile('/lib/x86_64-linux-gnu/libc.so.6', join(d, 'lib/x86_64-linux-gnu/libc.so.6'));
    await copyFile('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(d, 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2'));
    await symlink('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', join(d, 'lib64/ld-linux-x86-64.so.2'));
    await copyFile('/usr/lib/x86_64-linux-gnu/libseccomp.so.2', join(d, 'usr/lib/x86_64-linux-gnu/libseccomp.so.2'));
    await copyFile('/lib/x86_64-linux-gnu/libz.so.1', join(d, 'lib/x86_64-linux-gnu/libz.so.1'));
    await copyFile('/lib/x86_64-linux-gnu/libm.so.6', join(d, 'lib/x86_64-linux-gnu/libm.so.6'));
    const removed = await pruneLibraries(d);
    expect(removed.sort()).toEqual(['lib/x86_64-linux-gnu/libm.so.6', 'lib/x86_64-linux-gnu/libz.so.1']);
    expect((await readdir(join(d, 'lib/x86_64-linux-gnu'))).sort()).toEqual(['ld-linux-x86-64.so.2', 'libc.so.6']);
    expect(await readdir(join(d, 'usr/lib/x86_64-linux-gnu'))).toEqual(['libseccomp.so.2']);
  });

  it('removes by glob, or keeps only what matches', async () => {
    const d = await mkdtemp(join(tmpdir(), 'coracle-rm-'));
    for (const f of ['usr/share/doc/x/README', 'usr/bin/a', 'usr/bin/b', 'etc/c']) {
      await mkdir(join(d, f, '..'), { recursive: true });
      await writeFile(join(d, f), f);
    }
    await removeMatching(d, ['usr/share/**'], false);
    expect(await readdir(join(d, 'usr/share'))).toEqual([]);
    await removeMatching(d, ['usr/bin/a'], true);
    expect(await readdir(d)).toEqual(['usr']);
    expect(await readdir(join(d, 'usr'))).toEqual(['bin']);
    expect(await readdir(join(d, 'usr/bin'))).toEqual(['a']);
  });
});

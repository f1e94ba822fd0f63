import { describe, expect, it } from 'vitest';
import { FsTree, dirChain } from '../../../src/initrd/tree.js';
import type { InitrdEntry } from '../../../src/initrd/types.js';

const f = (path: string, text: string): InitrdEntry => ({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from(text) } });
const text = (e: InitrdEntry | undefined): string => Buffer.from((e?.data as { data: Uint8Array }).data).toString();

describe('FsTree', () => {
  it('creates missing parents and lists parents before children, sorted', () => {
    const t = new FsTree();
    t.set(f('usr/bin/env', 'x'));
    t.set(f('/etc/hosts', 'h'));
    t.set({ path: 'usr', type: 'dir', mode: 0o700, uid: 1, gid: 1 });
    expect(t.entries().map((e) => e.path)).toEqual(['etc', 'etc/hosts', 'usr', 'usr/bin', 'usr/bin/env']);
    expect(t.get('usr')!.mode).toBe(0o700);
    expect(t.get('usr/bin')!.mode).toBe(0o755);
  });

  it('applies whiteouts (delete a subtree) and opaque directories (clear below)', () => {
    const t = new FsTree();
    for (const p of ['a/1', 'a/2', 'a/sub/3', 'b/4']) t.set(f(p, p));
    expect(t.delete('a/sub')).toBe(true);
    expect(t.has('a/sub/3')).toBe(false);
    t.clearDir('a');
    expect(t.has('a')).toBe(true);
    expect(t.entries().map((e) => e.path)).toEqual(['a', 'b', 'b/4']);
    expect(t.delete('nope')).toBe(false);
  });

  it('a later layer replaces an entry; a file replacing a dir drops its contents', () => {
    const t = new FsTree();
    t.set(f('x/y', 'old'));
    t.set(f('x', 'now a file'));
    expect(t.has('x/y')).toBe(false);
    expect(text(t.get('x'))).toBe('now a file');
    expect(() => t.set(f('x/z', 'under a file'))).toThrow(/parent x is a file/);
  });

  it('keeps hardlinked content when the link target is removed or replaced', () => {
    const t = new FsTree();
    t.set(f('bin/busybox', 'BB'));
    t.set({ path: 'bin/sh', type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: 'bin/busybox' });
    t.set({ path: 'bin/ls', type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: 'bin/sh' });
    expect(t.get('bin/ls')!.linkTarget).toBe('bin/busybox');
    t.delete('bin/busybox');
    expect(t.get('bin/ls')!.type).toBe('file');
    expect(text(t.get('bin/ls'))).toBe('BB');
    expect(t.get('bin/sh')).toMatchObject({ type: 'hardlink', linkTarget: 'bin/ls' });
    expect(() => t.set({ path: 'z', type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: 'missing' })).toThrow(/does not exist/);
  });

  it('places a tree under a prefix, hardlink targets included', () => {
    const t = new FsTree();
    t.set(f('a', 'A'));
    t.set({ path: 'b', type: 'hardlink', mode: 0, uid: 0, gid: 0, linkTarget: 'a' });
    const es = t.entries({ prefix: '/containers/services/web/rootfs/' });
    expect(es.map((e) => e.path)).toEqual(['containers/services/web/rootfs/a', 'containers/services/web/rootfs/b']);
    expect(es[1]!.linkTarget).toBe('containers/services/web/rootfs/a');
    expect(dirChain('containers/services/web').map((e) => e.path)).toEqual(['containers', 'containers/services', 'containers/services/web']);
  });
});

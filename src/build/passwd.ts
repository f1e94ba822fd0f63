/** Names in an image's config `User` looked up in the image's own /etc/passwd and /etc/group. */
import type { FsTree } from '../initrd/tree.js';

function table(tree: FsTree, path: string): Map<string, number> {
  const e = tree.get(path);
  const out = new Map<string, number>();
  if (e?.type !== 'file' || e.data?.kind !== 'buffer') return out;
  for (const line of Buffer.from(e.data.data).toString('utf8').split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] && /^\d+$/.test(f[2]!)) out.set(f[0], Number(f[2]));
  }
  return out;
}

export function imageUserResolver(tree: FsTree): (name: string, kind: 'user' | 'group') => number | undefined {
  const users = table(tree, 'etc/passwd');
  const groups = table(tree, 'etc/group');
  return (name, kind) => (kind === 'user' ? users : groups).get(name);
}

/**
 * Container roots stored once. Every bundle keeps its own rootfs/ tree
 * (folders, symlinks, devices), but a regular file identical to one already
 * in the same roots segment (same bytes, mode, owner, mtime) is a newc
 * hardlink to it: six busybox-based images carry busybox once. Hardlinks
 * only hold within one cpio archive, so the roots of all containers share
 * one segment, except an image too large to recompress whenever another
 * image changes, which gets a segment of its own (holding every container
 * of that image).
 *
 * Isolation is as before: the init mounts a tmpfs overlay over every
 * writable rootfs before the container starts (writes go to the upper
 * layer, never to the shared inode), and a read-only rootfs is mounted
 * read-only inside its container. Directories are not shared, so mount
 * points runc creates in one root appear in no other.
 */
import { createHash } from 'node:crypto';
import type { FsTree } from '../initrd/tree.js';
import type { InitrdEntry } from '../initrd/types.js';
import { linkIdenticalFiles } from '../initrd/link-identical.js';
import { rootfsEntries, type ContainerPlan } from './containers.js';
import type { ResolvedBuildImage } from './images.js';

/** Images whose layers (compressed) exceed this get a roots segment of their own. */
export const OWN_SEGMENT_BYTES = 32 * 1024 * 1024;

export interface RootsGroup {
  /** Segment name: `roots`, or `roots/NAME` for a large image (NAME: its first container). */
  name: string;
  plans: ContainerPlan[];
  /** Content key: the bundles and the image each unpacks. */
  key: string;
}

function layerBytes(image: ResolvedBuildImage): number {
  return image.manifest.layers.reduce((n, l) => n + l.size, 0);
}

/** The roots segments, in a fixed order: the shared one first, then one per large image in first-use order. */
export function planRoots(plans: readonly ContainerPlan[]): RootsGroup[] {
  const shared: ContainerPlan[] = [];
  const own = new Map<string, ContainerPlan[]>();
  for (const p of plans) {
    if (layerBytes(p.image) <= OWN_SEGMENT_BYTES) {
      shared.push(p);
      continue;
    }
    const list = own.get(p.image.descriptor.digest) ?? [];
    list.push(p);
    own.set(p.image.descriptor.digest, list);
  }
  const group = (name: string, list: ContainerPlan[]): RootsGroup => ({
    name,
    plans: list,
    key: createHash('sha256')
      .update(JSON.stringify(['coracle-roots/1', list.map((p) => [p.bundle, p.unpackDir, p.image.descriptor.digest])]))
      .digest('hex'),
  });
  const out: RootsGroup[] = [];
  if (shared.length > 0) out.push(group('roots', shared));
  for (const list of own.values()) out.push(group(`roots/${list[0]!.bundle.replace(/^containers\//, '')}`, list));
  return out;
}

/** Every root of the group, identical files linked to their first copy; parents first. */
export async function rootsEntries(group: RootsGroup, loadTree: (i: ResolvedBuildImage) => Promise<FsTree>): Promise<InitrdEntry[]> {
  const byPath = new Map<string, InitrdEntry>();
  for (const p of group.plans) for (const e of rootfsEntries(p, await loadTree(p.image))) if (!byPath.has(e.path)) byPath.set(e.path, e);
  const sorted = [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return (await linkIdenticalFiles(sorted)).entries;
}

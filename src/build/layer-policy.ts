import type { DroppedEntry } from './unpack.js';
import type { LayerPolicy, SystemSpec } from '../spec/types.js';

/**
 * The `layers:` policy of a build: what becomes of device nodes and
 * setuid/setgid files in image layers, and the one-line reports of what it
 * dropped.
 *
 * Default: drop both. The character devices anyone may use anyway (null,
 * zero, full, random, urandom, tty, console, ptmx: Docker's default device
 * set, see isHarmlessDevice) are kept under every policy. Any other device
 * node in an image is at best useless (the
 * guest's /dev is a devtmpfs, and runc's device cgroup denies nodes a
 * container was not granted) and at worst a world-writable /dev/mem in the
 * host's root, where init images land. Setuid/setgid bits do nothing in
 * containers (noNewPrivileges is on by default) and in the host's root are
 * a way up for any account cloud-init creates; none of the project's images
 * needs one. `keep` restores Docker's and LinuxKit's behaviour.
 */
export const DEFAULT_LAYER_POLICY: LayerPolicy = { devices: 'drop', setuid: 'drop' };

export function layerPolicy(spec: Pick<SystemSpec, 'layers'>): LayerPolicy {
  return {
    devices: spec.layers?.devices ?? DEFAULT_LAYER_POLICY.devices,
    setuid: spec.layers?.setuid ?? DEFAULT_LAYER_POLICY.setuid,
  };
}

/** Mixed into the cache key of every initrd segment made from image layers: another policy, other bytes. */
export function layerPolicyKey(p: LayerPolicy): string {
  return `layers:devices=${p.devices},setuid=${p.setuid}`;
}

/** Entries named in full in a report; the rest are counted. */
const SHOWN = 8;

/**
 * One warning per image and kind: `image REF: dropped 2 device nodes
 * (layers: devices: drop): layer 1 (sha256:…): dev/sda (block 8,0), …`.
 */
export function droppedReports(image: string, dropped: readonly DroppedEntry[]): string[] {
  const out: string[] = [];
  for (const kind of ['device', 'setuid'] as const) {
    const list = dropped.filter((d) => d.kind === kind);
    if (list.length === 0) continue;
    const what =
      kind === 'device'
        ? `dropped ${list.length} device node${list.length === 1 ? '' : 's'} (layers: devices: drop)`
        : `cleared the setuid/setgid bits of ${list.length} file${list.length === 1 ? '' : 's'} (layers: setuid: drop)`;
    const byLayer = new Map<string, string[]>();
    for (const d of list.slice(0, SHOWN)) {
      const names = byLayer.get(d.layer) ?? [];
      names.push(`${d.path} (${d.detail})`);
      byLayer.set(d.layer, names);
    }
    const shown = [...byLayer].map(([layer, names]) => `${layer}: ${names.join(', ')}`).join('; ');
    const more = list.length > SHOWN ? `; and ${list.length - SHOWN} more` : '';
    out.push(`image ${image}: ${what}: ${shown}${more}`);
  }
  return out;
}

/**
 * One bundle per onboot, onshutdown and service entry, laid out as the guest
 * init expects: `containers/onboot/NNN-name/`, `containers/onshutdown/NNN-name/`,
 * `containers/services/name/`, each holding config.json (OCI runtime spec,
 * absolute root.path), runtime.json (LinuxKit's runtime key) and the image's
 * files, and coracle.conf when the entry sets one of Coracle's per-section keys
 * (a service's `restart=POLICY` and `stop_timeout=SECONDS`, an onboot or
 * onshutdown container's `timeout=SECONDS`; read by the guest init). The image files of every bundle go to the roots segments (see
 * roots.ts), where identical files across containers are stored once; the
 * bundle's own segment holds only what its configuration generates.
 */
import { createHash } from 'node:crypto';
import { CoracleError } from '../errors.js';
import { dirChain } from '../initrd/tree.js';
import type { FsTree } from '../initrd/tree.js';
import type { InitrdEntry } from '../initrd/types.js';
import { LINUXKIT_CONFIG_LABEL } from '../oci/types.js';
import { generateRuntimeConfig, stableJson, type IdMap } from '../runtime/index.js';
import type { Mount } from '../runtime/types.js';
import { parseLabelCached } from './parse-cache.js';
import { parseGoDuration } from '../spec/rules.js';
import type { ImageEntry, SystemSpec } from '../spec/types.js';
import type { ResolvedBuildImage } from './images.js';
import { imageUserResolver } from './passwd.js';

export type Section = 'onboot' | 'onshutdown' | 'services';

/** Where LinuxKit puts volumes in the booted system; binds name them by volume name. */
export const VOLUMES_DIR = 'containers/volumes';

export interface ContainerPlan {
  section: Section;
  entry: ImageEntry;
  /** Path of the bundle inside the initrd, without a leading slash. */
  bundle: string;
  image: ResolvedBuildImage;
  configJson: string;
  runtimeJson: string;
  /** coracle.conf (`key=value` lines), absent when the entry sets none of its keys. */
  coracleConf?: string;
  /** Directory of the bundle holding the image's files. */
  unpackDir: string;
  mountpoints: string[];
  /** Content key of the bundle's own segment (config.json, runtime.json, mount points): changes whenever any byte of it would. */
  key: string;
}

/** The guest init's per-bundle settings; undefined when there are none (the guest's defaults apply). */
export function coracleConf(entry: ImageEntry): string | undefined {
  const lines: string[] = [];
  if (entry.restart !== undefined) lines.push(`restart=${entry.restart}`);
  if (entry.timeout !== undefined) {
    const ms = parseGoDuration(entry.timeout);
    if (ms === undefined) throw new CoracleError(`internal: timeout "${entry.timeout}" was not validated`);
    lines.push(`timeout=${ms / 1000}`);
  }
  if (entry.stopTimeout !== undefined) {
    const ms = parseGoDuration(entry.stopTimeout);
    if (ms === undefined) throw new CoracleError(`internal: stop_timeout "${entry.stopTimeout}" was not validated`);
    lines.push(`stop_timeout=${ms / 1000}`);
  }
  return lines.length > 0 ? lines.join('\n') + '\n' : undefined;
}

function bundlePath(section: Section, index: number, name: string): string {
  if (section === 'services') return `containers/services/${name}`;
  return `containers/${section}/${String(index).padStart(3, '0')}-${name}`;
}

/** Bind sources that name a declared volume point at the volume's folder. */
function volumeSources(mounts: Mount[] | undefined, volumes: ReadonlySet<string>): void {
  for (const m of mounts ?? []) {
    if (m.source !== undefined && !m.source.startsWith('/') && volumes.has(m.source) && (m.type === 'bind' || m.type === undefined))
      m.source = `/${VOLUMES_DIR}/${m.source}`;
  }
}

export interface PlanInput {
  spec: SystemSpec;
  images: ReadonlyMap<string, ResolvedBuildImage>;
  ids: IdMap;
  /** Unpacked trees, for images whose config names a user that must be looked up in /etc/passwd. */
  loadTree: (image: ResolvedBuildImage) => Promise<FsTree>;
  /** Build cache folder, where parsed image labels are kept; without it labels are parsed every time. */
  cacheDir?: string;
}

export async function planContainers(input: PlanInput): Promise<ContainerPlan[]> {
  const plans: ContainerPlan[] = [];
  const volumes = new Set(input.spec.volumes.map((v) => v.name));
  for (const section of ['onboot', 'onshutdown', 'services'] as const) {
    for (const [i, entry] of input.spec[section].entries()) {
      const image = input.images.get(entry.image);
      if (image === undefined) throw new CoracleError(`internal: image ${entry.image} was not resolved`);
      const bundle = bundlePath(section, i, entry.name);
      const labelText = image.config.config?.Labels?.[LINUXKIT_CONFIG_LABEL];
      const label =
        labelText === undefined
          ? undefined
          : input.cacheDir !== undefined
            ? await parseLabelCached(labelText, image.reference, input.cacheDir)
            : (await import('../spec/label.js')).parseImageLabelConfig(labelText, image.reference);
      const user = image.config.config?.User ?? '';
      const resolveImageUser = /[^\d:]/.test(user) ? imageUserResolver(await input.loadTree(image)) : undefined;
      const gen = generateRuntimeConfig({
        entry,
        ...(label !== undefined ? { label } : {}),
        ...(image.config.config !== undefined ? { image: image.config.config } : {}),
        bundleDir: `/${bundle}`,
        ids: input.ids,
        ...(resolveImageUser !== undefined ? { resolveImageUser } : {}),
      });
      volumeSources(gen.config.mounts, volumes);
      volumeSources(gen.runtime.mounts, volumes);
      const configJson = stableJson(gen.config) + '\n';
      const runtimeJson = stableJson(gen.runtime) + '\n';
      const conf = coracleConf(entry);
      // (without a coracle.conf the key is the one earlier builds cached under)
      const keyParts: unknown[] = ['coracle-bundle/2', bundle, gen.mountpoints, configJson, runtimeJson];
      if (conf !== undefined) keyParts.push(conf);
      const key = createHash('sha256').update(JSON.stringify(keyParts)).digest('hex');
      plans.push({
        section,
        entry,
        bundle,
        image,
        configJson,
        runtimeJson,
        ...(conf !== undefined ? { coracleConf: conf } : {}),
        mountpoints: gen.mountpoints,
        key,
        unpackDir: gen.unpackDir,
      });
    }
  }
  return plans;
}

const DIR = { mode: 0o755, uid: 0, gid: 0 };

const byPath = (a: InitrdEntry, b: InitrdEntry): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/** The bundle's own entries: its folders, config.json, runtime.json and mount points (the image's files are in rootfsEntries). */
export function bundleEntries(plan: ContainerPlan): InitrdEntry[] {
  const out: InitrdEntry[] = dirChain(plan.bundle, DIR);
  out.push({ path: `${plan.bundle}/config.json`, type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from(plan.configJson) } });
  out.push({ path: `${plan.bundle}/runtime.json`, type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from(plan.runtimeJson) } });
  if (plan.coracleConf !== undefined)
    out.push({ path: `${plan.bundle}/coracle.conf`, type: 'file', mode: 0o644, uid: 0, gid: 0, data: { kind: 'buffer', data: Buffer.from(plan.coracleConf) } });
  const dirs = new Set([...plan.mountpoints, plan.unpackDir]);
  for (const d of [...dirs].sort()) out.push({ path: `${plan.bundle}/${d}`, type: 'dir', ...DIR });
  // config.json etc. sort after the directories they live in; keep parents first overall.
  return out.sort(byPath);
}

/** The image's files under the bundle's rootfs/ (with the folders leading to it). */
export function rootfsEntries(plan: ContainerPlan, tree: FsTree): InitrdEntry[] {
  const root = `${plan.bundle}/${plan.unpackDir}`;
  return [...dirChain(root, DIR), ...tree.entries({ prefix: root })];
}

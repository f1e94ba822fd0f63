import { FIELD_TO_YAML_KEY } from './convert.js';
import type { FileEntry, ImageConfigFields, ImageEntry, KernelSpec, MountSpec, SystemSpec, VolumeEntry } from './types.js';

/**
 * A spec back in LinuxKit's own spelling and key order (the Moby struct as
 * go-yaml marshals it): what a `files` entry with `metadata: yaml|json`
 * writes into the image. Locations are dropped; unset fields are omitted
 * except those LinuxKit always writes (a file's `directory` and `optional`).
 * Modes become 4-digit octal strings.
 */
export function specToDocument(spec: SystemSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (spec.kernel) out.kernel = kernelDoc(spec.kernel);
  out.init = [...spec.init];
  out.onboot = spec.onboot.map(imageDoc);
  out.onshutdown = spec.onshutdown.map(imageDoc);
  out.services = spec.services.map(imageDoc);
  out.files = spec.files.map(fileDoc);
  out.volumes = spec.volumes.map(volumeDoc);
  return out;
}

function kernelDoc(k: KernelSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { image: k.image ?? '' };
  for (const key of ['cmdline', 'binary', 'tar', 'ucode'] as const) if (k[key] !== undefined && k[key] !== '') out[key] = k[key];
  if (k.modules !== undefined) out.modules = k.modules === 'all' ? 'all' : [...k.modules];
  return out;
}

/** ImageConfig field order in LinuxKit's Go struct. */
const IMAGE_CONFIG_ORDER: readonly (keyof ImageConfigFields)[] = [
  'capabilities', 'capabilitiesAdd', 'ambient', 'mounts', 'binds', 'bindsAdd', 'devices', 'tmpfs', 'command', 'env',
  'cwd', 'net', 'pid', 'ipc', 'uts', 'userns', 'hostname', 'readonly', 'maskedPaths', 'readonlyPaths', 'uid', 'gid',
  'additionalGids', 'noNewPrivileges', 'seccomp', 'oomScoreAdj', 'rootfsPropagation', 'cgroupsPath', 'resources', 'sysctl',
  'rlimits', 'uidMappings', 'gidMappings', 'annotations', 'runtime',
];

function mountDoc(m: MountSpec): Record<string, unknown> {
  const { uidMappings, gidMappings, ...rest } = m;
  const out: Record<string, unknown> = { ...rest };
  if (uidMappings !== undefined) out.uidmappings = uidMappings;
  if (gidMappings !== undefined) out.gidmappings = gidMappings;
  return out;
}

/** The per-container fields in LinuxKit's spelling (also the shape of an image label). */
export function imageConfigToDocument(cfg: ImageConfigFields): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of IMAGE_CONFIG_ORDER) {
    const v = cfg[field];
    if (v === undefined || v === '') continue;
    const key = FIELD_TO_YAML_KEY[field] ?? field;
    if (field === 'mounts') out[key] = (v as MountSpec[]).map(mountDoc);
    else if (field === 'runtime') {
      const rt = { ...(v as NonNullable<ImageConfigFields['runtime']>) } as Record<string, unknown>;
      if (rt.mounts) rt.mounts = (rt.mounts as MountSpec[]).map(mountDoc);
      out[key] = rt;
    } else out[key] = structuredClone(v);
  }
  return out;
}

function imageDoc(e: ImageEntry): Record<string, unknown> {
  const out: Record<string, unknown> = { name: e.name, image: e.image, ...imageConfigToDocument(e) };
  // Coracle's keys, after LinuxKit's
  if (e.restart !== undefined) out.restart = e.restart;
  if (e.timeout !== undefined) out.timeout = e.timeout;
  if (e.stopTimeout !== undefined) out.stop_timeout = e.stopTimeout;
  return out;
}

function fileDoc(f: FileEntry): Record<string, unknown> {
  const out: Record<string, unknown> = { path: f.path, directory: f.directory };
  if (f.symlink !== undefined) out.symlink = f.symlink;
  if (f.contents !== undefined) out.contents = f.contents;
  if (f.source !== undefined) out.source = f.source;
  if (f.metadata !== undefined) out.metadata = f.metadata;
  out.optional = f.optional;
  if (f.mode !== undefined) out.mode = `0${f.mode.toString(8).padStart(3, '0')}`;
  if (f.uid !== undefined) out.uid = f.uid;
  if (f.gid !== undefined) out.gid = f.gid;
  return out;
}

function volumeDoc(v: VolumeEntry): Record<string, unknown> {
  const out: Record<string, unknown> = { name: v.name };
  if (v.image !== undefined) out.image = v.image;
  if (v.readonly) out.readonly = true;
  if (v.format !== undefined) out.format = v.format;
  if (v.platforms !== undefined) out.platforms = [...v.platforms];
  return out;
}

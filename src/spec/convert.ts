import type { Locator } from './source.js';
import type { RawFile, RawImageEntry, RawImageLabel, RawKernel, RawMount, RawVolume } from './schema.js';
import type {
  FileEntry,
  ImageConfigFields,
  ImageConfigKey,
  ImageEntry,
  KernelSpec,
  MountSpec,
  RuntimeSpec,
  SourceLocation,
  VolumeEntry,
} from './types.js';

/**
 * From values the zod schemas accepted (YAML spelling) to the shared types
 * (`types.ts`), with the locations later stages report errors at.
 */

/** YAML key -> field name, where they differ. */
export const YAML_KEY_TO_FIELD: Readonly<Record<string, ImageConfigKey>> = {
  'capabilities.add': 'capabilitiesAdd',
  'binds.add': 'bindsAdd',
};
export const FIELD_TO_YAML_KEY: Readonly<Record<string, string>> = {
  capabilitiesAdd: 'capabilities.add',
  bindsAdd: 'binds.add',
};

function mount(m: RawMount): MountSpec {
  const { uidmappings, gidmappings, ...rest } = m;
  const out: MountSpec = { ...rest };
  if (uidmappings !== undefined) out.uidMappings = uidmappings;
  if (gidmappings !== undefined) out.gidMappings = gidmappings;
  return out;
}

/** The per-container fields of a validated entry or label, keys renamed, mounts converted. */
/** Coracle's keys of an entry: not container configuration, kept apart. */
const CORACLE_KEYS = new Set(['restart', 'timeout', 'stop_timeout']);

export function imageConfigFields(raw: Omit<RawImageLabel, 'name' | 'image'> & { restart?: unknown; timeout?: unknown; stop_timeout?: unknown }): ImageConfigFields {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined || key === 'name' || key === 'image' || CORACLE_KEYS.has(key)) continue;
    const field = YAML_KEY_TO_FIELD[key] ?? key;
    if (key === 'mounts') out[field] = (value as RawMount[]).map(mount);
    else if (key === 'runtime') {
      const rt = { ...(value as RuntimeSpec & { mounts?: RawMount[] }) };
      if (rt.mounts) rt.mounts = (rt.mounts as RawMount[]).map(mount);
      out[field] = rt;
    } else out[field] = value;
  }
  return out as ImageConfigFields;
}

export function imageEntry(raw: RawImageEntry, loc: Locator): ImageEntry {
  const fieldLocs: NonNullable<ImageEntry['fieldLocs']> = {};
  for (const key of Object.keys(raw)) {
    const field = (YAML_KEY_TO_FIELD[key] ?? key) as keyof typeof fieldLocs;
    fieldLocs[field] = loc([key], 'key');
  }
  const out: ImageEntry = { name: raw.name, image: raw.image, ...imageConfigFields(raw), loc: loc([]), fieldLocs };
  if (raw.restart !== undefined) out.restart = raw.restart;
  if (raw.timeout !== undefined) out.timeout = raw.timeout;
  if (raw.stop_timeout !== undefined) out.stopTimeout = raw.stop_timeout;
  return out;
}

export function kernel(raw: RawKernel, loc: Locator): KernelSpec {
  const out: KernelSpec = { loc: loc([]), fieldLocs: {} };
  for (const key of ['image', 'cmdline', 'binary', 'tar', 'ucode'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    out[key] = v;
    out.fieldLocs![key] = loc([key], 'key');
  }
  if (raw.modules !== undefined) {
    out.modules = raw.modules === 'all' ? 'all' : [...raw.modules];
    out.fieldLocs!.modules = loc(['modules'], 'key');
    if (raw.modules !== 'all') out.moduleLocs = raw.modules.map((_, i) => loc(['modules', i]));
  }
  return out;
}

export function file(raw: RawFile, loc: SourceLocation): FileEntry {
  const out: FileEntry = { path: raw.path, directory: raw.directory ?? false, optional: raw.optional ?? false, loc };
  if (raw.contents !== undefined) out.contents = raw.contents;
  if (raw.source !== undefined) out.source = raw.source;
  if (raw.symlink !== undefined) out.symlink = raw.symlink;
  if (raw.mode !== undefined) out.mode = parseInt(raw.mode, 8);
  if (raw.uid !== undefined) out.uid = raw.uid;
  if (raw.gid !== undefined) out.gid = raw.gid;
  if (raw.metadata !== undefined) out.metadata = raw.metadata;
  return out;
}

export function volume(raw: RawVolume, loc: SourceLocation): VolumeEntry {
  const out: VolumeEntry = { name: raw.name, readonly: raw.readonly ?? false, loc };
  if (raw.image !== undefined) out.image = raw.image;
  if (raw.format !== undefined) out.format = raw.format;
  if (raw.platforms !== undefined) out.platforms = raw.platforms;
  return out;
}

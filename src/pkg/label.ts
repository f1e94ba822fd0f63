import { DiagnosticsError, type SourceDiagnostic } from '../errors.js';
import type { PackageDefinition } from './definition.js';
import { LabelConfigError, parseImageLabelConfig } from '../spec/label.js';

/**
 * Keys LinuxKit accepts in an image's org.mobyproject.config label (the
 * per-container keys of a system spec except name and image).
 */
export const LABEL_KEYS = new Set([
  'capabilities', 'ambient', 'mounts', 'binds', 'binds.add', 'capabilities.add', 'devices', 'tmpfs', 'command', 'env',
  'cwd', 'net', 'pid', 'ipc', 'uts', 'userns', 'hostname', 'readonly', 'maskedPaths', 'readonlyPaths', 'uid', 'gid',
  'additionalGids', 'noNewPrivileges', 'seccomp', 'oomScoreAdj', 'rootfsPropagation', 'cgroupsPath', 'resources', 'sysctl',
  'rlimits', 'uidMappings', 'gidMappings', 'annotations', 'runtime',
]);

const STRING_LISTS = ['capabilities', 'ambient', 'binds', 'binds.add', 'capabilities.add', 'tmpfs', 'command', 'env', 'maskedPaths', 'readonlyPaths', 'rlimits'];
const STRINGS = ['cwd', 'net', 'pid', 'ipc', 'uts', 'userns', 'hostname', 'rootfsPropagation', 'cgroupsPath', 'seccomp'];

/** Check the `label:` of a definition: known keys and value shapes, errors at their line:col. */
export function validateLabel(def: PackageDefinition): void {
  const label = def.data.label ?? {};
  const diags: SourceDiagnostic[] = [];
  const err = (key: string, message: string) =>
    diags.push({ ...(message.includes('unknown key') ? def.locateKey(['label', key]) : def.locate(['label', key])), severity: 'error', message });
  for (const [k, v] of Object.entries(label)) {
    if (!LABEL_KEYS.has(k)) err(k, `label: unknown key "${k}"`);
    else if (STRING_LISTS.includes(k) && !(Array.isArray(v) && v.every((x) => typeof x === 'string'))) err(k, `label.${k} must be a list of strings`);
    else if (STRINGS.includes(k) && typeof v !== 'string') err(k, `label.${k} must be a string`);
    else if ((k === 'readonly' || k === 'noNewPrivileges') && typeof v !== 'boolean') err(k, `label.${k} must be true or false`);
    else if (k === 'capabilities' || k === 'ambient') {
      for (const c of v as string[]) if (!/^(CAP_[A-Z_]+|all)$/.test(c)) err(k, `label.${k}: "${c}" is not a capability name`);
    } else if (k === 'devices' && !Array.isArray(v)) err(k, 'label.devices must be a list');
  }
  if (diags.length) throw new DiagnosticsError(diags);
  // The spec's own per-container schema has the last word: what the
  // assembler will accept when it reads the label back.
  try {
    parseImageLabelConfig(JSON.stringify(label), def.name);
  } catch (e) {
    if (!(e instanceof LabelConfigError)) throw e;
    const at = def.locate(['label']);
    throw new DiagnosticsError(e.diagnostics.map((d) => ({ ...at, severity: 'error' as const, message: `label: ${d.message}` })));
  }
}

import type { SourceDiagnostic } from '../errors.js';
import { FIELD_TO_YAML_KEY } from './convert.js';
import { basePathOf, locationIn } from './locators.js';
import { at } from './messages.js';
import { parseBind } from './rules.js';
import type { IdValue, ImageEntry, SourceLocation, SystemSpec, VolumeEntry } from './types.js';

/**
 * Rules across entries and files, checked on a whole (possibly merged) spec:
 * unique service and volume names, uid/gid names that refer to containers,
 * and volumes referenced by binds/mounts exist and are mounted read-only when
 * they are read-only (LinuxKit refuses to build otherwise).
 */

export interface ValidateOptions {
  /** Volume names declared with errors already reported: do not also report references to them. */
  brokenVolumes?: ReadonlySet<string>;
  /** Likewise for containers (uid/gid names). */
  brokenContainers?: ReadonlySet<string>;
}

/** `12:5` when in the same file as `from`, else `file:12:5`. */
function where(l: SourceLocation, from: SourceLocation): string {
  return l.file === from.file ? `${l.line}:${l.col}` : `${l.file}:${l.line}:${l.col}`;
}

export function validateSpec(spec: SystemSpec, opts: ValidateOptions = {}): { errors: SourceDiagnostic[]; warnings: SourceDiagnostic[] } {
  const errors: SourceDiagnostic[] = [];
  const warnings: SourceDiagnostic[] = [];
  /** Report at `path` inside `owner` (prefixing the message with that path, e.g. `services[1].binds[0]:`). */
  const error = (l: SourceLocation, message: string, owner?: object, path: (string | number)[] = []) =>
    errors.push({ ...l, message: owner ? at([...basePathOf(owner), ...path], message) : message, severity: 'error' });

  // service names must be unique: services run side by side as containerd
  // containers named after them. onboot/onshutdown names may repeat (LinuxKit
  // numbers their bundles, e.g. 000-format, 001-format; its own tests do this).
  const seen = new Map<string, ImageEntry>();
  for (const e of spec.services) {
    const first = seen.get(e.name);
    if (first) {
      const here = locationIn(e, ['name'], e.fieldLocs?.name ?? e.loc);
      error(here, `duplicate service name "${e.name}" (first declared at ${where(locationIn(first, ['name'], first.fieldLocs?.name ?? first.loc), here)})`, e, ['name']);
    } else seen.set(e.name, e);
  }

  const volumes = new Map<string, VolumeEntry>();
  for (const v of spec.volumes) {
    const first = volumes.get(v.name);
    if (first) {
      const here = locationIn(v, ['name'], v.loc);
      error(here, `duplicate volume name "${v.name}" (first declared at ${where(locationIn(first, ['name'], first.loc), here)})`, v, ['name']);
    } else volumes.set(v.name, v);
  }

  // uid/gid names: LinuxKit gives every container an id and lets uid/gid name it
  const containerNames = new Set([...spec.onboot, ...spec.onshutdown, ...spec.services].map((e) => e.name));
  for (const n of opts.brokenContainers ?? []) containerNames.add(n);
  const checkId = (owner: object, path: (string | number)[], fallback: SourceLocation, v: IdValue | undefined) => {
    if (typeof v !== 'string' || v === '' || v === 'root' || containerNames.has(v)) return;
    error(
      locationIn(owner, path, fallback),
      `"${v}" is not a number, "root" or the name of a container in onboot, onshutdown or services`,
      owner,
      path,
    );
  };
  for (const e of [...spec.onboot, ...spec.onshutdown, ...spec.services]) {
    checkId(e, ['uid'], e.fieldLocs?.uid ?? e.loc, e.uid);
    checkId(e, ['gid'], e.fieldLocs?.gid ?? e.loc, e.gid);
    e.additionalGids?.forEach((g, i) => checkId(e, ['additionalGids', i], e.fieldLocs?.additionalGids ?? e.loc, g));
  }
  for (const f of spec.files) {
    checkId(f, ['uid'], f.loc, f.uid);
    checkId(f, ['gid'], f.loc, f.gid);
  }

  // volume references
  const broken = opts.brokenVolumes ?? new Set<string>();
  for (const e of [...spec.onboot, ...spec.onshutdown, ...spec.services]) {
    const useVolume = (path: (string | number)[], fallback: SourceLocation, what: string, source: string, destination: string, options: string[] | undefined) => {
      if (source.startsWith('/')) return;
      const v = volumes.get(source);
      if (!v) {
        if (!broken.has(source))
          error(locationIn(e, path, fallback), `${what}: "${source}" is neither an absolute path nor a volume declared in "volumes"`, e, path);
        return;
      }
      if (v.readonly && !(options ?? []).includes('ro')) {
        const here = locationIn(e, path, fallback);
        error(here, `${what}: volume "${source}" is read-only (declared at ${where(v.loc, here)}) but is mounted read-write at ${destination}; add the "ro" option`, e, path);
      }
    };
    for (const field of ['binds', 'bindsAdd'] as const) {
      const key = FIELD_TO_YAML_KEY[field] ?? field;
      e[field]?.forEach((b, i) => {
        const parsed = parseBind(b);
        if (typeof parsed === 'string') return; // reported by the schema
        useVolume([key, i], e.fieldLocs?.[field] ?? e.loc, `bind "${b}"`, parsed.source, parsed.destination, parsed.options);
      });
    }
    e.mounts?.forEach((m, i) => {
      if (m.type !== 'bind' || m.source === undefined) return;
      useVolume(['mounts', i], e.fieldLocs?.mounts ?? e.loc, `bind mount of "${m.source}"`, m.source, m.destination ?? '(no destination)', m.options);
    });
  }

  for (const v of spec.volumes)
    if (v.platforms && v.format !== 'oci')
      warnings.push({
        ...locationIn(v, ['platforms'], v.loc, 'key'),
        message: `volume "${v.name}": "platforms" only matters with format: oci`,
        severity: 'warning',
      });

  return { errors, warnings };
}

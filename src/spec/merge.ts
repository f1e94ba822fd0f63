import type { KernelSpec, SourceLocation, SystemSpec } from './types.js';

const UNKNOWN_LOC: SourceLocation = { file: '<unknown>', line: 0, col: 0 };

/**
 * Combine specs given together (`coracle build a.yml b.yml`) as LinuxKit's
 * AppendConfig does: kernel fields set later override earlier ones (an empty
 * image, cmdline or binary does not), every list appends in order.
 * Uniqueness rules are checked afterwards on the result (validateSpec).
 */
export function mergeSpecs(specs: readonly SystemSpec[]): SystemSpec {
  const out: SystemSpec = { init: [], initLocs: [], onboot: [], onshutdown: [], services: [], files: [], volumes: [] };
  for (const s of specs) {
    if (s.kernel) out.kernel = mergeKernel(out.kernel, s.kernel);
    out.init.push(...s.init);
    // specs built by hand may lack initLocs: keep the arrays aligned anyway
    out.initLocs!.push(...s.init.map((_, i) => s.initLocs?.[i] ?? UNKNOWN_LOC));
    out.onboot.push(...s.onboot);
    out.onshutdown.push(...s.onshutdown);
    out.services.push(...s.services);
    out.files.push(...s.files);
    out.volumes.push(...s.volumes);
    if (s.trust !== undefined) out.trust = s.trust;
    // like the kernel's fields: set later wins
    if (s.runtime !== undefined) {
      out.runtime = s.runtime;
      if (s.runtimeLoc) out.runtimeLoc = s.runtimeLoc;
    }
  }
  return out;
}

function mergeKernel(a: KernelSpec | undefined, b: KernelSpec): KernelSpec {
  if (!a) return { ...b, fieldLocs: { ...b.fieldLocs } };
  const out: KernelSpec = { ...a, fieldLocs: { ...a.fieldLocs } };
  for (const key of ['image', 'cmdline', 'binary'] as const) {
    const v = b[key];
    if (v !== undefined && v !== '') {
      out[key] = v;
      if (b.fieldLocs?.[key]) out.fieldLocs![key] = b.fieldLocs[key];
    }
  }
  for (const key of ['tar', 'ucode'] as const) {
    const v = b[key];
    if (v !== undefined) {
      out[key] = v;
      if (b.fieldLocs?.[key]) out.fieldLocs![key] = b.fieldLocs[key];
    }
  }
  // a later spec's module list replaces an earlier one, as the other kernel fields do
  if (b.modules !== undefined) {
    out.modules = b.modules;
    if (b.moduleLocs) out.moduleLocs = b.moduleLocs;
    else delete out.moduleLocs;
    if (b.fieldLocs?.modules) out.fieldLocs!.modules = b.fieldLocs.modules;
  }
  return out;
}

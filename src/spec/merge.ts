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
    // Loops, not push(...list): a spread passes every element as an argument
    // and overflows the stack past ~120k (a spec with 150k `files:` entries).
    for (const [i, ref] of s.init.entries()) {
      out.init.push(ref);
      // specs built by hand may lack initLocs: keep the arrays aligned anyway
      out.initLocs!.push(s.initLocs?.[i] ?? UNKNOWN_LOC);
    }
    for (const c of s.onboot) out.onboot.push(c);
    for (const c of s.onshutdown) out.onshutdown.push(c);
    for (const c of s.services) out.services.push(c);
    for (const f of s.files) out.files.push(f);
    for (const v of s.volumes) out.volumes.push(v);
    if (s.trust !== undefined) out.trust = s.trust;
    // like the kernel's fields: set later wins
    if (s.runtime !== undefined) {
      out.runtime = s.runtime;
      if (s.runtimeLoc) out.runtimeLoc = s.runtimeLoc;
    }
    // each `layers:` key likewise
    for (const key of ['devices', 'setuid'] as const) {
      const v = s.layers?.[key];
      if (v === undefined) continue;
      out.layers ??= { locs: {} };
      out.layers[key] = v;
      out.layers.locs ??= {};
      const loc = s.layers?.locs?.[key];
      if (loc) out.layers.locs[key] = loc;
      else delete out.layers.locs[key];
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

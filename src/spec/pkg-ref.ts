/**
 * `@pkg:PATH` image references: a local image definition (a folder with a
 * build.yml) instead of a tag. The tag such a folder builds to follows the
 * Debian archive, so specs name the folder and `coracle build` resolves it.
 * PATH is relative to the spec file; parsing makes it absolute, so specs
 * from different folders merge without ambiguity.
 */
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { SourceDiagnostic } from '../errors.js';
import { locationIn } from './locators.js';
import type { SourceLocation, SystemSpec } from './types.js';

export const PKG_REF_PREFIX = '@pkg:';

export function isPkgRef(ref: string): boolean {
  return ref.startsWith(PKG_REF_PREFIX);
}

/** The folder a `@pkg:` reference names (absolute once parsed). */
export function pkgRefDir(ref: string): string {
  return ref.slice(PKG_REF_PREFIX.length);
}

/** Why a `@pkg:` reference is malformed, or undefined. */
export function pkgRefProblem(ref: string): string | undefined {
  return pkgRefDir(ref).trim() === '' ? `"${ref}": @pkg: needs the path of an image definition folder, e.g. @pkg:../images/getty` : undefined;
}

/** `@pkg:PATH` with PATH resolved against the spec file's folder (the working folder for standard input). */
export function absolutePkgRef(ref: string, specFile: string): string {
  const base = specFile === '-' ? process.cwd() : dirname(resolve(specFile));
  return `${PKG_REF_PREFIX}${resolve(base, pkgRefDir(ref))}`;
}

/** The same reference written relative to `dir` (for lock files and messages). */
export function relativePkgRef(ref: string, dir: string): string {
  const p = pkgRefDir(ref);
  if (!isAbsolute(p)) return ref;
  const rel = relative(dir, p) || '.';
  return `${PKG_REF_PREFIX}${rel.startsWith('.') ? rel : `./${rel}`}`;
}

/** A folder for messages: relative to the working folder when inside it, else absolute. */
export function shownPath(p: string): string {
  const rel = relative(process.cwd(), p);
  return rel === '' ? '.' : rel.startsWith('..') ? p : rel;
}

/** Every image reference of a spec with where it was written. */
export function imageRefSites(spec: SystemSpec): { ref: string; loc: SourceLocation }[] {
  const out: { ref: string; loc: SourceLocation }[] = [];
  const k = spec.kernel;
  if (k?.image) out.push({ ref: k.image, loc: k.fieldLocs?.image ?? k.loc });
  spec.init.forEach((ref, i) => out.push({ ref, loc: spec.initLocs?.[i] ?? { file: '-', line: 1, col: 1 } }));
  for (const e of [...spec.onboot, ...spec.onshutdown, ...spec.services]) out.push({ ref: e.image, loc: locationIn(e, ['image'], e.fieldLocs?.image ?? e.loc) });
  for (const v of spec.volumes) if (v.image) out.push({ ref: v.image, loc: locationIn(v, ['image'], v.loc) });
  return out;
}

/** Make every `@pkg:` reference of a freshly parsed file absolute. */
export function absolutizePkgRefs(spec: SystemSpec, specFile: string): void {
  const fix = (r: string) => (isPkgRef(r) ? absolutePkgRef(r, specFile) : r);
  if (spec.kernel?.image) spec.kernel.image = fix(spec.kernel.image);
  spec.init = spec.init.map(fix);
  for (const e of [...spec.onboot, ...spec.onshutdown, ...spec.services]) e.image = fix(e.image);
  for (const v of spec.volumes) if (v.image) v.image = fix(v.image);
}

/** Errors for `@pkg:` references whose folder holds no build.yml. */
export async function missingPkgDefinitions(spec: SystemSpec): Promise<SourceDiagnostic[]> {
  const out: SourceDiagnostic[] = [];
  for (const { ref, loc } of imageRefSites(spec)) {
    if (!isPkgRef(ref)) continue;
    const dir = pkgRefDir(ref);
    const ok = await stat(join(dir, 'build.yml')).then((s) => s.isFile(), () => false);
    if (!ok) {
      out.push({ ...loc, severity: 'error', message: `"${relativePkgRef(ref, dirname(resolve(loc.file)))}" is not an image definition: ${shownPath(dir)}/build.yml not found` });
    }
  }
  return out;
}

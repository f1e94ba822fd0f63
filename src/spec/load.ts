import { readFile } from 'node:fs/promises';
import { CoracleError, DiagnosticsError, type SourceDiagnostic } from '../errors.js';
import { mergeSpecs } from './merge.js';
import { parseSpecFile, sortDiagnostics, type SpecResult } from './parse.js';
import { validateSpec } from './validate.js';
import { missingPkgDefinitions } from './pkg-ref.js';
import { loadSeccompProfiles } from './seccomp-profile.js';

/** Read a spec file; `-` reads standard input. */
async function readSpecText(file: string): Promise<string> {
  try {
    if (file === '-') {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    }
    return await readFile(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new CoracleError(`cannot read spec ${file}: ${why}`, { cause: e });
  }
}

/**
 * Read, parse and merge several spec files (later kernel fields override,
 * lists append), then check the rules that span files and read the seccomp
 * profile files entries name. Throws DiagnosticsError with every error of
 * every file.
 */
export async function loadSpecs(files: readonly string[]): Promise<SpecResult> {
  if (files.length === 0) throw new CoracleError('no spec file given');
  const texts = await Promise.all(files.map(readSpecText));
  const result = parseSpecs(files.map((file, i) => ({ file, text: texts[i]! })));
  const missing = await missingPkgDefinitions(result.spec);
  if (missing.length > 0) throw new DiagnosticsError(sortDiagnostics(missing));
  const badProfiles = await loadSeccompProfiles(result.spec);
  if (badProfiles.length > 0) throw new DiagnosticsError(sortDiagnostics(badProfiles));
  return result;
}

/** loadSpecs on texts already in memory. */
export function parseSpecs(inputs: readonly { file: string; text: string }[]): SpecResult {
  const errors: SourceDiagnostic[] = [];
  const warnings: SourceDiagnostic[] = [];
  const brokenVolumes = new Set<string>();
  const brokenContainers = new Set<string>();
  const specs = inputs.map(({ file, text }) => {
    const p = parseSpecFile(text, file);
    for (const d of p.errors) errors.push(d);
    for (const d of p.warnings) warnings.push(d);
    for (const v of p.brokenVolumes) brokenVolumes.add(v);
    for (const n of p.brokenContainers) brokenContainers.add(n);
    return p.spec;
  });
  const spec = mergeSpecs(specs);
  const cross = validateSpec(spec, { brokenVolumes, brokenContainers });
  for (const d of cross.errors) errors.push(d);
  for (const d of cross.warnings) warnings.push(d);
  if (errors.length > 0) throw new DiagnosticsError(sortDiagnostics(errors));
  return { spec, warnings: sortDiagnostics(warnings) };
}

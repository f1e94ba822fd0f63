import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { conformanceRoot, projectRoot } from '../../helpers/cli.js';

export const cloudInitCorpus = join(conformanceRoot, 'cloud-init');
export const invalidFixtures = join(projectRoot, 'test', 'fixtures', 'cloud-init', 'invalid');

/** Every #cloud-config example of the shared corpus (module examples and doc examples, archives excluded). */
export function validExamples(): string[] {
  const files: string[] = [];
  const mod = join(cloudInitCorpus, 'module-examples');
  for (const m of readdirSync(mod).sort()) {
    for (const f of readdirSync(join(mod, m)).sort()) if (/^example.*\.yaml$/.test(f)) files.push(join(mod, m, f));
  }
  const doc = join(cloudInitCorpus, 'doc-examples');
  for (const f of readdirSync(doc).sort()) if (/^cloud-config.*\.txt$/.test(f) && !f.startsWith('cloud-config-archive')) files.push(join(doc, f));
  return files;
}

export function archiveExamples(): string[] {
  const doc = join(cloudInitCorpus, 'doc-examples');
  return readdirSync(doc).filter((f) => f.startsWith('cloud-config-archive')).sort().map((f) => join(doc, f));
}

export function invalidExamples(): string[] {
  return readdirSync(invalidFixtures).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(invalidFixtures, f));
}

export interface Expectation {
  path: string;
  line: number;
  col: number;
  message: string;
}

/** `# expect: PATH LINE:COL MESSAGE` lines at the end of an invalid fixture (PATH `-` for the whole document). */
export function expectations(text: string): Expectation[] {
  const out: Expectation[] = [];
  for (const m of text.matchAll(/^# expect: (\S+) (\d+):(\d+) (.+)$/gm)) {
    out.push({ path: m[1] === '-' ? '' : m[1]!, line: Number(m[2]), col: Number(m[3]), message: m[4]! });
  }
  return out;
}

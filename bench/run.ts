// Run every benchmark in bench/ one after another (`npm run bench`); each
// writes its own section of bench/RESULTS.md through results.ts.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const here = dirname(fileURLToPath(import.meta.url));
const skip = new Set(['run.ts', 'results.ts']);
const only = process.argv.slice(2);
let failed = 0;
for (const f of readdirSync(here).filter((n) => n.endsWith('.ts') && !skip.has(n)).sort()) {
  if (only.length && !only.some((o) => f.startsWith(o))) continue;
  console.log(`== ${f}`);
  const r = await execa(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit', reject: false });
  if (r.exitCode !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;

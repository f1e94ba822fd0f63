// `npm run bench fuzz`: every fuzz target of test/helpers/fuzz-targets.ts
// with >= 100,000 cases (FUZZ_RUNS), a fresh seed each run unless FUZZ_SEED
// is set; the seed is printed so a failure can be replayed. Writes the
// "fuzz" section of RESULTS.md; exit 1 when any property fails.
import fc from 'fast-check';
import { fuzzTargets } from '../test/helpers/fuzz-targets.js';
import { table, writeSection } from './results.js';

const runs = Number(process.env.FUZZ_RUNS ?? 100_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
const only = process.argv.slice(2);
const rows: Array<Array<string | number>> = [];
let failed = 0;
for (const t of await fuzzTargets()) {
  if (only.length && !only.some((o) => t.name.includes(o))) continue;
  const t0 = Date.now();
  const r = await fc.check(t.property as fc.IAsyncProperty<[unknown]>, { numRuns: runs, seed, endOnFailure: true });
  const s = (Date.now() - t0) / 1000;
  const verdict = r.failed ? `FAILED: ${String(r.errorInstance ?? r.error).split('\n')[0]} on ${JSON.stringify(r.counterexample).slice(0, 200)}` : 'no uncaught exception';
  if (r.failed) failed++;
  console.log(`${t.name}: ${r.numRuns} cases in ${s.toFixed(0)} s, seed ${seed}: ${verdict}`);
  rows.push([t.name, r.numRuns, r.failed ? 1 : 0, s.toFixed(0), verdict]);
}
if (!only.length) {
  await writeSection(
    'fuzz',
    'Fuzzing: parsers of other people\'s input',
    [
      `fast-check properties of test/helpers/fuzz-targets.ts, seed ${seed}, ${runs} cases per target`,
      '(CI runs the same targets with 1000 cases, seed 15: test/security/fuzz.test.ts). Property: every input ends',
      'in a result or a CoracleError (a clear message), never another exception.',
      '',
      table(['target', 'cases', 'uncaught exceptions', 'seconds', 'verdict'], rows),
    ].join('\n'),
  );
}
process.exitCode = failed ? 1 : 0;

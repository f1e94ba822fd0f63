/**
 * The fuzz targets of test/helpers/fuzz-targets.ts, short and seed-fixed
 * (the same cases every CI run; bench/fuzz.ts runs >= 100,000 per target).
 * FUZZ_RUNS and FUZZ_SEED override.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { fuzzTargets } from '../helpers/fuzz-targets.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = Number(process.env.FUZZ_SEED ?? 15);
const targets = await fuzzTargets();

describe('fuzzing (seed-fixed)', () => {
  for (const t of targets) {
    it(`${t.name}: ${RUNS} cases, only results or CoracleErrors`, { timeout: 600_000 }, async () => {
      await fc.assert(t.property as fc.IAsyncProperty<[unknown]>, { numRuns: RUNS, seed: SEED, endOnFailure: true });
    });
  }
});

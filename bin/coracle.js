#!/usr/bin/env node
// Runs the compiled CLI: dist/bundle/coracle.cjs through V8's code cache when
// it matches dist/ (npm ci / npm run build make both), else dist/ as it is.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  const { VERSION } = await import('../dist/cli/version.js');
  process.stdout.write(`${VERSION}\n`);
} else {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
  const { currentBundle, runBundle } = await import('../dist/cli/bundled.js');
  const bundle = process.env.CORACLE_BUNDLE === '0' ? undefined : currentBundle(dist);
  if (bundle !== undefined) {
    process.exitCode = await runBundle(bundle, argv);
  } else {
    const { main } = await import('../dist/cli/main.js');
    process.exitCode = await main(argv);
  }
}

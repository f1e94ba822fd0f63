#!/usr/bin/env node
// Runs the compiled CLI: dist/bundle/coracle.cjs through V8's code cache when
// it matches dist/ (npm ci / npm run build make both), else dist/ as it is
// (src/cli/bundled.ts). CommonJS (bin/package.json): loading the runner with
// require skips Node's ESM loader, which every command would pay for.
'use strict';
const { join } = require('node:path');

const dist = join(__dirname, '..', 'dist');
const argv = process.argv.slice(2);
let runner;
try {
  runner = require(join(dist, 'bundle', 'runner.cjs'));
} catch (e) {
  // no bundle (tsc alone made dist/): the same runner, as ES modules
  if (e.code !== 'MODULE_NOT_FOUND') throw e;
}
const started = runner ? runner.start(dist, argv) : import('../dist/cli/bundled.js').then((m) => m.start(dist, argv));
started.then((code) => {
  process.exitCode = code;
});

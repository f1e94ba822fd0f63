/**
 * The CLI the benchmarks time, made as `npm run build` makes it and run as a
 * user runs it: tsc's output in FOLDER/dist (emitted even if unrelated files
 * have type errors, so a work tree in progress can be measured), bundled by
 * scripts/bundle.mjs, started through a copy of bin/ (coracle.js and its
 * package.json) at FOLDER/bin/coracle.js (which finds ../dist beside it).
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export async function compiledCli(folder: string): Promise<string> {
  const dist = join(folder, 'dist');
  await mkdir(dist, { recursive: true });
  await execa(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.json'), '--outDir', dist, '--declaration', 'false'], { reject: false, cwd: root });
  if (!existsSync(join(dist, 'cli', 'main.js'))) throw new Error(`tsc did not produce ${join(dist, 'cli', 'main.js')}`);
  await execa(process.execPath, [join(root, 'scripts', 'bundle.mjs'), dist], { cwd: root });
  const cli = join(folder, 'bin', 'coracle.js');
  await mkdir(dirname(cli), { recursive: true });
  await copyFile(join(root, 'bin', 'coracle.js'), cli);
  // bin/ is CommonJS by its own package.json
  await copyFile(join(root, 'bin', 'package.json'), join(dirname(cli), 'package.json'));
  return cli;
}

/**
 * Boot tests of the product pipeline: the real system images made by
 * `coracle pkg build images/...` into a test store, specs assembled by
 * `coracle build`, booted with the QEMU helpers.
 */
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { findBootImage, type BootImage } from './dev-initrd.js';
import { projectRoot, runCli } from './cli.js';

/** The store the system images are built into; kept between runs (unchanged definitions are not rebuilt). */
export function systemStore(): string {
  return process.env.CORACLE_TEST_STORE ?? join(projectRoot, '.coracle', 'store');
}

/** `@pkg:…/images/NAME` references of a spec: the images/ definitions it needs. */
export async function specImageNames(spec: string): Promise<string[]> {
  const text = await readFile(spec, 'utf8');
  return [...new Set([...text.matchAll(/@pkg:[^"'\s]*?\bimages\/([a-z0-9-]+)/g)].map((m) => m[1]!))].sort();
}

async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      const h = await open(path, 'wx');
      await h.close();
      break;
    } catch {
      const st = await stat(path).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 30 * 60_000) await rm(path, { force: true });
      if (i > 3600) throw new Error(`timed out waiting for ${path}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}

/** Build (or find) the system images `names` in the test store. Throws with the CLI's output on failure. */
export async function ensureSystemImages(names: string[]): Promise<void> {
  const store = systemStore();
  await mkdir(store, { recursive: true });
  const dirs = names.map((n) => join('images', n));
  await withLock(join(store, '.system-images.lock'), async () => {
    const r = await runCli(['--cache', store, 'pkg', 'build', ...dirs], { timeout: 40 * 60_000 });
    if (r.exitCode !== 0) throw new Error(`coracle pkg build failed (${r.exitCode}):\n${r.stderr}\n${r.stdout}`);
  });
}

/** Every image definition under images/. */
export async function allImageNames(): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(join(projectRoot, 'images'), { withFileTypes: true })) {
    if (d.isDirectory() && (await stat(join(projectRoot, 'images', d.name, 'build.yml')).catch(() => undefined))) out.push(d.name);
  }
  return out.sort();
}

/** `coracle build` a spec into `outDir` with the test store; returns the boot files. */
export async function buildSystem(specs: string[], outDir: string, name: string): Promise<BootImage> {
  const r = await runCli(['--cache', systemStore(), 'build', ...specs, '-o', outDir, '--name', name], { timeout: 20 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`coracle build failed (${r.exitCode}):\n${r.stderr}\n${r.stdout}`);
  return findBootImage(outDir, name);
}

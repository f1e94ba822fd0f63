/**
 * Every image a spec names, made available in the store (store first, then
 * a registry) and read for the target platform. Images are resolved once
 * each, however many entries use them.
 */
import { CoracleError } from '../errors.js';
import { readImage } from '../oci/image.js';
import type { ContentStore } from '../oci/store/content-store.js';
import type { EnsureOptions } from '../oci/transfer/index.js';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../oci/types.js';
import type { Reporter } from '../progress/reporter.js';
import type { SystemSpec } from '../spec/types.js';

export interface ResolvedBuildImage {
  /** The reference as the spec wrote it. */
  name: string;
  /** Canonical reference in the store. */
  reference: string;
  /** What the reference names in the store (an index, or the manifest itself). */
  top: Descriptor;
  /** The platform's image manifest. */
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

/** Image references in the order the build uses them: kernel, init, onboot, onshutdown, services, volumes. */
export function specImages(spec: SystemSpec): string[] {
  const refs: string[] = [];
  if (spec.kernel?.image) refs.push(spec.kernel.image);
  refs.push(...spec.init);
  for (const s of [spec.onboot, spec.onshutdown, spec.services]) for (const e of s) refs.push(e.image);
  for (const v of spec.volumes) if (v.image) refs.push(v.image);
  return [...new Set(refs)];
}

export interface ResolveOptions extends Omit<EnsureOptions, 'platform' | 'reporter'> {
  platform: Platform;
  reporter: Reporter;
  /** What to fetch for a spec reference, when not the reference itself (`@pkg:` folders, locked digests). */
  targets?: ReadonlyMap<string, string>;
}

export async function resolveImages(store: ContentStore, refs: readonly string[], opts: ResolveOptions): Promise<Map<string, ResolvedBuildImage>> {
  // the registry client (and node:http with it) is loaded only by builds that plan
  const { ensureImage } = await import('../oci/transfer/index.js');
  const out = new Map<string, ResolvedBuildImage>();
  for (const name of refs) {
    const ensured = await ensureImage(store, opts.targets?.get(name) ?? name, { ...opts, platform: opts.platform, reporter: opts.reporter });
    if (ensured.pulled) opts.reporter.info(`pulled ${ensured.reference}`);
    const img = await readImage(store, ensured.image, opts.platform);
    if (img.manifest.layers.length === 0 && img.config.rootfs?.diff_ids?.length)
      throw new CoracleError(`image ${ensured.reference}: manifest has no layers but its config lists some`);
    out.set(name, { name, reference: ensured.reference, top: ensured.descriptor, descriptor: img.descriptor, manifest: img.manifest, config: img.config });
  }
  return out;
}

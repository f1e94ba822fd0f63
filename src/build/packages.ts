/**
 * `@pkg:` references of a spec, turned into store references: each folder
 * is planned as `coracle pkg show-tag` would, and built into the store when
 * its tag is missing (unless the caller refuses builds).
 */
import { CoracleError } from '../errors.js';
import type { ContentStore } from '../oci/store/content-store.js';
import type { PkgOptions } from '../pkg/build.js';
import type { Reporter } from '../progress/reporter.js';
import { isPkgRef, pkgRefDir, shownPath } from '../spec/pkg-ref.js';

export interface PackageRefOptions {
  store: ContentStore;
  reporter: Reporter;
  /** Passed to planPackage/buildPackage (apt sources, .deb cache, org ...). */
  pkg?: Omit<PkgOptions, 'store' | 'reporter'>;
  /** Refuse to build: a missing image is an error (`--no-pkg-build`). */
  noBuild?: boolean;
}

/** spec reference (`@pkg:/abs/dir`) -> canonical store reference, for every `@pkg:` one in `refs`. */
export async function resolvePackageRefs(refs: readonly string[], opts: PackageRefOptions): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const ref of refs) {
    if (!isPkgRef(ref)) continue;
    // the package builder (apt, the Debian archive, execa ...) is loaded only for specs that name `@pkg:` folders
    const { buildPackage, planPackage } = await import('../pkg/build.js');
    const dir = pkgRefDir(ref);
    const shown = shownPath(dir);
    const pkgOpts = { ...opts.pkg, store: opts.store };
    const plan = await planPackage(dir, pkgOpts);
    if (!(await opts.store.getRef(plan.ref))) {
      if (opts.noBuild) throw new CoracleError(`image ${shown}: ${plan.ref} is not in the store ${opts.store.root}; run \`coracle pkg build ${shown}\` (or build without --no-pkg-build)`);
      opts.reporter.info(`${shown}: building ${plan.ref}`);
      await buildPackage(dir, { ...pkgOpts, reporter: opts.reporter });
    }
    out.set(ref, plan.ref);
  }
  return out;
}

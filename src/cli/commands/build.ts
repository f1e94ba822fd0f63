import type { Command } from 'commander';
import { CoracleError } from '../../errors.js';
import type { Compression } from '../../initrd/types.js';
import { OUTPUT_FORMATS, type OutputFormat } from '../../outputs/formats.js';
import { storeRootFrom } from '../options.js';
import { accessOptions, registryAccess } from './registry.js';

const COMPRESSIONS: readonly Compression[] = ['lz4', 'zstd', 'gzip', 'none'];

export function registerBuildCommands(program: Command): void {
  accessOptions(
    program
      .command('build')
      .description('assemble a bootable system from one or more YAML specs (several specs merge in order)')
      .argument('<spec...>', 'system spec files')
      .option('-o, --dir <dir>', 'output folder', '.')
      .option('--name <name>', 'output base name (default: the first spec file name without .yml)')
      .option('--format <format>', `output format, repeatable: ${OUTPUT_FORMATS.join(', ')} (default kernel+initrd)`, (v: string, prev: string[]) => [...prev, v], [] as string[])
      .option('--platform <os/arch[/variant]>', 'platform of the images (default: this machine)')
      .option('--pull', 'ask registries for every image, even those in the local store')
      .option('--compression <kind>', `initrd segment compression: ${COMPRESSIONS.join(', ')}`, 'lz4')
      .option('--level <n>', 'compression level (gzip 1-9, zstd 1-19, lz4 1-12)')
      .option('--no-pkg-build', 'refuse to build a missing @pkg: image definition instead of building it into the store')
      .option('--lock', 'write NAME.lock.yml beside the spec: the digest of every image the build used')
      .option('--locked', 'build from exactly the digests in NAME.lock.yml; fail naming any image it lacks')
      .option('--runtime <name>', 'OCI runtime in the guest: crun or runc (over the spec\'s runtime:; default crun when an init image holds it)')
      .option('--debian-cache <dir>', '@pkg: builds: apt state and .deb cache (default $CORACLE_DEBIAN_CACHE or <cache>/debian)')
      .option('--sources <file>', '@pkg: builds: deb822 apt sources to resolve packages against')
      .option('--allow-outside-sources', 'let files: sources read host files outside the spec\'s folder (absolute, ../, ~/ paths)')
      .option('--json', 'print the outputs (path, size, digest) and the images used as JSON on stdout'),
    true,
  ).action(
    async (
      specs: string[],
      opts: {
        dir: string; name?: string; format: string[]; platform?: string; pull?: boolean; compression: string; level?: string; mirror?: string[]; insecure?: boolean;
        pkgBuild: boolean; lock?: boolean; locked?: boolean; debianCache?: string; sources?: string; runtime?: string; allowOutsideSources?: boolean; json?: boolean;
      },
      cmd: Command,
    ) => {
      for (const f of opts.format)
        if (!OUTPUT_FORMATS.includes(f as OutputFormat)) throw new CoracleError(`--format: unknown format "${f}" (one of ${OUTPUT_FORMATS.join(', ')})`);
      const formats = (opts.format.length > 0 ? opts.format : ['kernel+initrd']) as OutputFormat[];
      if (!COMPRESSIONS.includes(opts.compression as Compression))
        throw new CoracleError(`--compression: "${opts.compression}" is not one of ${COMPRESSIONS.join(', ')}`);
      if (opts.runtime !== undefined && opts.runtime !== 'crun' && opts.runtime !== 'runc')
        throw new CoracleError(`--runtime: "${opts.runtime}" is not one of crun, runc`);
      let level: number | undefined;
      if (opts.level !== undefined) {
        level = Number(opts.level);
        if (!Number.isInteger(level)) throw new CoracleError(`--level: expected a whole number, got "${opts.level}"`);
      }
      const [{ build }, { openStore }, { createReporter }] = await Promise.all([
        import('../../build/assemble.js'),
        import('../../oci/store/layout-store.js'),
        import('../../progress/reporter.js'),
      ]);
      const store = await openStore(storeRootFrom(cmd));
      (await import('../../progress/trace.js')).traceMark('cli: build modules loaded, store open');
      const reporter = createReporter();
      const started = Date.now();
      const r = await build({
        specFiles: specs,
        store,
        outDir: opts.dir,
        format: formats,
        compression: opts.compression as Compression,
        reporter,
        ...(await registryAccess(opts)),
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
        ...(opts.pull ? { pull: true } : {}),
        ...(level !== undefined ? { level } : {}),
        ...(opts.pkgBuild === false ? { noPkgBuild: true } : {}),
        ...(opts.lock ? { lock: true } : {}),
        ...(opts.locked ? { locked: true } : {}),
        ...(opts.runtime !== undefined ? { runtime: opts.runtime as 'crun' | 'runc' } : {}),
        ...(opts.allowOutsideSources ? { allowOutsideSources: true } : {}),
        pkg: {
          ...(opts.debianCache ? { debianCacheDir: opts.debianCache } : {}),
          ...(opts.sources ? { sourcesFile: opts.sources } : {}),
          ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
        },
      });
      if (r.lockFile && opts.lock) reporter.info(`wrote ${r.lockFile}`);
      const cached = r.segments.filter((s) => s.cached).length;
      const secs = (Date.now() - started) / 1000;
      reporter.info(`built ${r.name} in ${secs.toFixed(secs < 10 ? 2 : 1)} s (${r.segments.length} segments, ${cached} cached)`);
      if (opts.json) {
        const { JSON_SCHEMA_VERSION, describeOutputs, printJson } = await import('../../report/json.js');
        printJson({
          schemaVersion: JSON_SCHEMA_VERSION,
          name: r.name,
          formats,
          outputs: await describeOutputs(r.outputs),
          images: r.images,
          ...(r.lockFile ? { lockFile: r.lockFile } : {}),
          durationMs: Date.now() - started,
        } satisfies import('../../report/json.js').BuildJson);
      } else for (const o of r.outputs) process.stdout.write(`${o}\n`);
    },
  );
}

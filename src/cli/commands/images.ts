import type { Command } from 'commander';
import { CoracleError } from '../../errors.js';
import { storeRootFrom } from '../options.js';

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

/** `coracle images` and `coracle cache import|export|prune`: the local store. */
export function registerImageCommands(program: Command): void {
  program
    .command('images')
    .description('list the images in the local store')
    .option('--json', 'print JSON instead of a table')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const [{ openStore }, { listImages }, { formatPlatform }, { formatBytes }] = await Promise.all([
        import('../../oci/store/layout-store.js'),
        import('../../oci/image.js'),
        import('../../oci/platform.js'),
        import('../../progress/reporter.js'),
      ]);
      const store = await openStore(storeRootFrom(cmd));
      const images = await listImages(store);
      if (opts.json) {
        const rows = images.map((im) => ({
          reference: im.name,
          digest: im.descriptor.digest,
          mediaType: im.descriptor.mediaType,
          size: im.size,
          platforms: im.platforms.map(formatPlatform),
        }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const rows = [['REFERENCE', 'DIGEST', 'SIZE', 'PLATFORMS']];
      for (const im of images) {
        rows.push([im.name, im.descriptor.digest.replace(/^(sha\d+:)([0-9a-f]{12}).*$/, '$1$2'), formatBytes(im.size), im.platforms.map(formatPlatform).join(',')]);
      }
      process.stdout.write(table(rows));
    });

  const cache = program.command('cache').description('manage the local image store');

  cache
    .command('import')
    .description('import OCI image layouts (folder or tar) and docker save archives into the store')
    .argument('<path...>', 'folders or tar files')
    .option('--name <repository>', 'repository for images the archive names only by a tag (e.g. localhost/myimage)')
    .action(async (paths: string[], opts: { name?: string }, cmd: Command) => {
      const [{ openStore }, { importImages }, { createReporter }] = await Promise.all([
        import('../../oci/store/layout-store.js'),
        import('../../oci/layout/index.js'),
        import('../../progress/reporter.js'),
      ]);
      const store = await openStore(storeRootFrom(cmd));
      const reporter = createReporter();
      for (const path of paths) {
        const r = await importImages(store, path, { reporter, ...(opts.name ? { name: opts.name } : {}) });
        for (const im of r.images) process.stdout.write(`imported ${im.name} ${im.descriptor.digest}\n`);
      }
    });

  cache
    .command('export')
    .usage('[options] <ref...> <dest>')
    .description('export images as an OCI image layout: a tar (oci-archive) when DEST ends in .tar, else a folder')
    .argument('<ref-and-dest...>', 'REF [REF...] DEST: images in the store (references or digests), then the output folder or .tar file (must not exist)')
    .option('--format <dir|tar>', 'output format (default from DEST)')
    .option('--platform <os/arch[/variant]>', 'platform to export when the store holds only part of a multi-platform image')
    .action(async (args: string[], opts: { format?: string; platform?: string }, cmd: Command) => {
      if (args.length < 2) throw new CoracleError('cache export: give the image(s) and then the destination: coracle cache export REF [REF...] FILE|DIR');
      const refs = args.slice(0, -1);
      const dest = args.at(-1)!;
      if (opts.format !== undefined && opts.format !== 'dir' && opts.format !== 'tar')
        throw new CoracleError(`--format: expected "dir" or "tar", got "${opts.format}"`);
      const [{ openStore }, { exportImages }, { parsePlatform }, { createReporter }] = await Promise.all([
        import('../../oci/store/layout-store.js'),
        import('../../oci/layout/index.js'),
        import('../../oci/platform.js'),
        import('../../progress/reporter.js'),
      ]);
      const store = await openStore(storeRootFrom(cmd));
      const r = await exportImages(store, refs, dest, {
        reporter: createReporter(),
        ...(opts.format ? { format: opts.format as 'dir' | 'tar' } : {}),
        ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}),
      });
      const transport = r.format === 'tar' ? 'oci-archive' : 'oci';
      for (const im of r.images)
        process.stdout.write(`exported ${im.name ?? im.descriptor.digest} to ${dest}${im.refName ? ` (${transport}:${dest}:${im.refName})` : ''}\n`);
    });

  cache
    .command('verify')
    .description('check that every blob hashes to its name and every image has its blobs; --repair removes corrupt blobs and leftovers of killed writes')
    .option('--repair', 'remove corrupt blobs (pull or build again to restore them) and temporary files of killed writers')
    .action(async (opts: { repair?: boolean }, cmd: Command) => {
      const [{ openStore }, { verifyStore }, { formatBytes }] = await Promise.all([
        import('../../oci/store/layout-store.js'),
        import('../../oci/store/verify.js'),
        import('../../progress/reporter.js'),
      ]);
      const store = await openStore(storeRootFrom(cmd));
      const r = await verifyStore(store, { repair: opts.repair === true });
      const fixed = opts.repair ? ' (removed)' : '';
      for (const c of r.corrupt) process.stdout.write(`corrupt blob ${c.digest}: content hashes to ${c.actual}${fixed}\n`);
      for (const m of r.missing) process.stdout.write(`missing blob ${m}: an image in the store needs it (pull it again)\n`);
      for (const d of r.debris) process.stdout.write(`leftover ${d}${fixed}\n`);
      process.stdout.write(
        `checked ${r.checked} blob${r.checked === 1 ? '' : 's'} (${formatBytes(r.bytes)}): ${r.corrupt.length} corrupt, ${r.missing.length} missing, ${r.debris.length} leftover${r.debris.length === 1 ? '' : 's'}${fixed && (r.corrupt.length || r.debris.length) ? ', repaired' : ''}\n`,
      );
      const remaining = r.missing.length + (opts.repair ? 0 : r.corrupt.length + r.debris.length);
      if (remaining > 0) process.exitCode = 1;
    });

  cache
    .command('prune')
    .description('remove blobs no image reference uses, cached disk images, build memos, and leftovers of interrupted writes')
    .option('--grace <seconds>', 'keep unreferenced files newer than this (another coracle may be writing)', '600')
    .option('--dry-run', 'only report what would be removed')
    .action(async (opts: { grace: string; dryRun?: boolean }, cmd: Command) => {
      const grace = Number(opts.grace);
      if (!Number.isFinite(grace) || grace < 0) throw new CoracleError(`--grace: expected seconds (a number >= 0), got "${opts.grace}"`);
      const [{ openStore }, { pruneStore }, { pruneDiskCache }, { buildCacheDir, diskImageCacheDir }, { pruneMemos }, { formatBytes }] = await Promise.all([
        import('../../oci/store/layout-store.js'),
        import('../../oci/store/prune.js'),
        import('../../outputs/disk/cache-prune.js'),
        import('../../build/cache-dirs.js'),
        import('../../build/memo.js'),
        import('../../progress/reporter.js'),
      ]);
      const store = await openStore(storeRootFrom(cmd));
      const prune = { gracePeriodMs: grace * 1000, ...(opts.dryRun ? { dryRun: true } : {}) };
      const r = await pruneStore(store, prune);
      // Disk images (--format) are cached in the build cache: all can be made again.
      const d = await pruneDiskCache(diskImageCacheDir(store.root), prune);
      // Build memos (plans of earlier builds) older than the grace period: the next build plans again.
      const m = await pruneMemos(buildCacheDir(store.root), prune);
      const verb = opts.dryRun ? 'would free' : 'freed';
      const temps = r.tempFiles.length + d.temps.length;
      const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
      process.stdout.write(
        `${verb} ${formatBytes(r.bytes + d.bytes + m.bytes)}: ${n(r.blobs.length, 'blob')}, ${n(temps, 'temporary file')}, ${n(d.entries.length, 'cached disk image')}, ${n(m.removed.length, 'build memo')}; ${r.kept} blobs in use\n`,
      );
    });
}

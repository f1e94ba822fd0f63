import type { Command } from 'commander';
import { CoracleError } from '../../errors.js';
import type { RegistryAccessOptions } from '../../oci/transfer/sources.js';
import { storeRootFrom } from '../options.js';

export interface AccessFlags {
  mirror?: string[];
  insecure?: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Mirrors and insecure registries from the flags and the user config file (for any command that reaches registries). */
export async function registryAccess(flags: AccessFlags): Promise<Pick<RegistryAccessOptions, 'mirrors' | 'insecure'>> {
  const { loadRegistryAccess } = await import('../../config/user-config.js');
  return loadRegistryAccess(flags);
}

/** Add `--mirror` (when pulling) and `--insecure` to a command; read them back with registryAccess(opts). */
export function accessOptions(cmd: Command, withMirrors: boolean): Command {
  if (withMirrors) {
    cmd.option('--mirror <registry=url>', 'try this mirror for a registry first (repeatable), e.g. docker.io=http://127.0.0.1:5000', collect, []);
  }
  return cmd.option('--insecure', 'use plain HTTP for registries that are not on this machine');
}

export function registerRegistryCommands(program: Command): void {
  accessOptions(
    program
      .command('pull')
      .description('pull images from registries into the local store')
      .argument('<ref...>', 'image references, e.g. alpine:3.20 or localhost:5000/app@sha256:...')
      .option('--platform <os/arch[/variant]>', 'platform to take from a multi-platform image (default: this machine)')
      .option('--all-platforms', 'pull every platform of a multi-platform image'),
    true,
  ).action(async (refs: string[], opts: AccessFlags & { platform?: string; allPlatforms?: boolean }, cmd: Command) => {
    const [{ openStore }, { pullImage }, { createReporter }] = await Promise.all([
      import('../../oci/store/layout-store.js'),
      import('../../oci/transfer/pull.js'),
      import('../../progress/reporter.js'),
    ]);
    const store = await openStore(storeRootFrom(cmd));
    const access = await registryAccess(opts);
    const reporter = createReporter();
    for (const ref of refs) {
      const r = await pullImage(ref, {
        store,
        reporter,
        ...access,
        ...(opts.platform ? { platform: opts.platform } : {}),
        ...(opts.allPlatforms ? { allPlatforms: true } : {}),
      });
      process.stdout.write(`pulled ${r.reference} ${r.descriptor.digest}\n`);
    }
  });

  accessOptions(
    program
      .command('push')
      .description('push an image from the local store to a registry')
      .argument('<ref>', 'image in the store')
      .argument('[dest]', 'destination reference (default: the same as REF)')
      .option('--chunk-size <bytes>', 'upload blobs larger than this in chunks of this size'),
    false,
  ).action(async (ref: string, dest: string | undefined, opts: AccessFlags & { chunkSize?: string }, cmd: Command) => {
    const [{ openStore }, { pushImage }, { createReporter }] = await Promise.all([
      import('../../oci/store/layout-store.js'),
      import('../../oci/transfer/push.js'),
      import('../../progress/reporter.js'),
    ]);
    const store = await openStore(storeRootFrom(cmd));
    const access = await registryAccess(opts);
    let chunk: number | undefined;
    if (opts.chunkSize !== undefined) {
      chunk = Number(opts.chunkSize);
      if (!Number.isInteger(chunk) || chunk <= 0) {
        throw new CoracleError(`--chunk-size: expected a positive number of bytes, got "${opts.chunkSize}"`);
      }
    }
    const r = await pushImage(ref, dest, {
      store,
      reporter: createReporter(),
      insecure: access.insecure ?? false,
      ...(chunk !== undefined ? { chunkThreshold: chunk, chunkSize: chunk } : {}),
    });
    process.stdout.write(`pushed ${r.reference} ${r.digest}\n`);
  });

  accessOptions(
    program
      .command('inspect')
      .description('print an image\'s manifest and config as JSON (the local store first, then the registry)')
      .argument('<ref>', 'image reference')
      .option('--platform <os/arch[/variant]>', 'platform to show from a multi-platform image (default: this machine)')
      .option('--raw', 'print the manifest or index exactly as stored or served')
      .option('--remote', 'ask the registry even when the store has the image')
      .option('--json', 'the default output, named for scripts: {reference, digest, manifest, config}'),
    true,
  ).action(async (ref: string, opts: AccessFlags & { platform?: string; raw?: boolean; remote?: boolean; json?: boolean }, cmd: Command) => {
    if (opts.raw && opts.json) throw new CoracleError('inspect: --raw and --json ask for different documents: give one');
    const [{ openStore }, { inspectImage }] = await Promise.all([
      import('../../oci/store/layout-store.js'),
      import('../../oci/transfer/inspect.js'),
    ]);
    const store = await openStore(storeRootFrom(cmd));
    const access = await registryAccess(opts);
    const r = await inspectImage(ref, {
      store,
      ...access,
      ...(opts.platform ? { platform: opts.platform } : {}),
      ...(opts.remote ? { remote: true } : {}),
    });
    if (opts.raw) {
      process.stdout.write(r.raw);
      if (!r.raw.toString('utf8').endsWith('\n')) process.stdout.write('\n');
      return;
    }
    const out = { reference: r.reference, digest: r.digest, source: r.source, manifest: r.manifest, config: r.config };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  });
}

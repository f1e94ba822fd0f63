import type { Command } from 'commander';
import { CoracleError } from '../../errors.js';
import { formatPlatform } from '../../oci/platform.js';
import { formatReference, parseReference } from '../../oci/ref.js';
import type { PkgOptions } from '../../pkg/build.js';
import { storeRootFrom } from '../options.js';

interface PkgFlags {
  platform?: string;
  org?: string;
  tag?: string;
  force?: boolean;
  push?: string;
  insecure?: boolean;
  debianCache?: string;
  sources?: string;
}

function common(cmd: Command): Command {
  return cmd
    .option('--platform <os/arch>', 'platform to build for', 'linux/amd64')
    .option('--org <org>', 'repository prefix of the image name (default coracle; may start with a registry host)')
    .option('--tag <tag>', 'use this tag instead of the hash of the definition and its inputs')
    .option('--debian-cache <dir>', 'apt state and .deb cache (default $CORACLE_DEBIAN_CACHE or <cache>/debian)')
    .option('--sources <file>', 'deb822 apt sources to resolve packages against', '/etc/apt/sources.list.d/debian.sources');
}

function pkgOptions(flags: PkgFlags, storeRoot: string): Omit<PkgOptions, 'store'> {
  if (flags.tag !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(flags.tag)) {
    throw new CoracleError(`--tag: "${flags.tag}" is not a valid tag`);
  }
  return {
    platform: flags.platform,
    ...(flags.org ? { org: flags.org } : {}),
    ...(flags.tag ? { tag: flags.tag } : {}),
    ...(flags.debianCache ? { debianCacheDir: flags.debianCache } : {}),
    ...(flags.sources ? { sourcesFile: flags.sources } : {}),
    force: flags.force ?? false,
    ...(storeRoot ? {} : {}),
  };
}

/** `REGISTRY` + the image's repository and tag: where --push sends it. */
export function pushDestination(ref: string, registry: string): string {
  const r = parseReference(ref);
  const host = registry.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
  const [hostPart, ...prefix] = host.split('/');
  const repository = prefix.length ? `${prefix.join('/')}/${r.repository}` : r.repository;
  return formatReference({ ...r, registry: hostPart!, repository });
}

export function registerPkgCommands(program: Command): void {
  const pkg = program.command('pkg').description('build the system images (kernel, init, runc, containerd, services) from images/NAME/build.yml');

  common(
    pkg
      .command('build')
      .description('build images into the local store (skipped when the tag is already there)')
      .argument('<dir...>', 'image folders, e.g. images/getty')
      .option('--force', 'rebuild even when the image is already in the store')
      .option('--push <registry>', 'push each image to this registry (host[:port][/prefix]) after building')
      .option('--insecure', 'plain HTTP for a --push registry that is not on this machine'),
  ).action(async (dirs: string[], flags: PkgFlags, cmd: Command) => {
    const [{ openStore }, { buildPackage }, { pushImage }, { createReporter }] = await Promise.all([
      import('../../oci/store/layout-store.js'),
      import('../../pkg/build.js'),
      import('../../oci/transfer/push.js'),
      import('../../progress/reporter.js'),
    ]);
    const root = storeRootFrom(cmd);
    const store = await openStore(root);
    const reporter = createReporter();
    for (const dir of dirs) {
      const r = await buildPackage(dir, { store, reporter, ...pkgOptions(flags, root) });
      process.stdout.write(`${r.built ? 'built' : 'up-to-date'} ${r.ref} ${r.descriptor.digest}\n`);
      if (flags.push) {
        const dest = pushDestination(r.ref, flags.push);
        const p = await pushImage(r.ref, dest, { store, reporter, insecure: flags.insecure ?? false });
        process.stdout.write(`pushed ${p.reference} ${p.digest}\n`);
      }
    }
  });

  common(
    pkg
      .command('lock')
      .description('write images/NAME/build.lock: the exact Debian packages (version, .deb sha256) pkg build then uses')
      .argument('<dir...>', 'image folders')
      .option('--update', 'resolve against the archive again, even where the lock still answers build.yml'),
  ).action(async (dirs: string[], flags: PkgFlags & { update?: boolean }, cmd: Command) => {
    const [{ openStore }, { lockPackage }] = await Promise.all([import('../../oci/store/layout-store.js'), import('../../pkg/build.js')]);
    const root = storeRootFrom(cmd);
    const store = await openStore(root);
    for (const dir of dirs) {
      const r = await lockPackage(dir, { store, ...pkgOptions(flags, root), ...(flags.update ? { update: true } : {}) });
      const file = r.definition.displayFile.replace(/[^/]*$/, 'build.lock');
      process.stdout.write(`${r.written ? 'locked' : 'up-to-date'} ${file} (${r.packages.length} packages)\n`);
    }
  });

  common(
    pkg
      .command('show-tag')
      .description('print the full reference each image would be built as')
      .argument('<dir...>', 'image folders')
      .option('--json', 'print [{definition, reference, tag, platform}] as JSON'),
  ).action(async (dirs: string[], flags: PkgFlags & { json?: boolean }, cmd: Command) => {
    const [{ openStore }, { planPackage }] = await Promise.all([import('../../oci/store/layout-store.js'), import('../../pkg/build.js')]);
    const root = storeRootFrom(cmd);
    const store = await openStore(root);
    const shown: import('../../report/json.js').ShowTagJson[] = [];
    for (const dir of dirs) {
      const plan = await planPackage(dir, { store, ...pkgOptions(flags, root) });
      if (flags.json) shown.push({ definition: dir, reference: plan.ref, tag: plan.tag, platform: formatPlatform(plan.platform) });
      else process.stdout.write(`${plan.ref}\n`);
    }
    if (flags.json) (await import('../../report/json.js')).printJson(shown);
  });
}

import type { Command } from 'commander';
import { CoracleError } from '../../errors.js';
import { storeRootFrom } from '../options.js';
import { accessOptions, registryAccess } from './registry.js';

/** `coracle kernel check`: does a kernel config give a container host what it needs? */
export function registerKernelCommands(program: Command): void {
  const kernel = program.command('kernel').description('kernel images and configs');
  accessOptions(
    kernel
      .command('check')
      .description('check a kernel config for what a container host needs (required) and should have (recommended); exits 1 when a required option is missing')
      .argument('<image|config>', 'a kernel config file (.config or config.gz), an image definition folder (images/kernel-lean), @pkg:DIR, or an image reference')
      .option('--json', 'print the result as JSON')
      .option('--debian-cache <dir>', 'image definitions: apt state and .deb cache (default $CORACLE_DEBIAN_CACHE or <cache>/debian)'),
    true,
  ).action(async (arg: string, opts: { json?: boolean; debianCache?: string; mirror?: string[]; insecure?: boolean }, cmd: Command) => {
    const [{ openStore }, { createReporter }, { readKernelConfigArg }, { parseKernelConfig }, { checkKernelConfig, formatCheckResult }] = await Promise.all([
      import('../../oci/store/layout-store.js'),
      import('../../progress/reporter.js'),
      import('../../kernel/source.js'),
      import('../../kernel/config.js'),
      import('../../kernel/check.js'),
    ]);
    const store = await openStore(storeRootFrom(cmd));
    const reporter = createReporter();
    const access = await registryAccess(opts);
    const { text, source } = await readKernelConfigArg(arg, {
      store,
      pkg: { reporter, ...(opts.debianCache ? { debianCacheDir: opts.debianCache } : {}) },
      ensure: { reporter, ...access },
    });
    const config = parseKernelConfig(text);
    if (config.size === 0) throw new CoracleError(`${source}: no kernel options in it`);
    const result = checkKernelConfig(config);
    if (opts.json) process.stdout.write(`${JSON.stringify({ source, ...result }, null, 2)}\n`);
    else process.stdout.write(formatCheckResult(result, source));
    if (!result.ok) {
      process.stderr.write(`coracle: ${source}: missing required kernel options: ${result.missingRequired.map((o) => `CONFIG_${o}`).join(', ')}\n`);
      process.exitCode = 1;
    }
  });
}

import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { CoracleError, formatDiagnostic } from '../../errors.js';

async function readInput(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CoracleError(`cannot read ${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code ?? String(e)}`);
  }
}

export function registerCloudInitCommands(program: Command): void {
  const ci = program.command('cloud-init').description('cloud-init user-data: validate it, make NoCloud seed images');

  ci.command('validate')
    .description('check user-data against the official cloud-config schema (exit 1 on errors)')
    .argument('<file...>', 'user-data files (#cloud-config, scripts, MIME multipart, gzip)')
    .option('--strict', 'exit 1 on warnings too')
    .action(async (files: string[], opts: { strict?: boolean }) => {
      const { parseUserData } = await import('../../cloudinit/userdata.js');
      let failed = false;
      for (const file of files) {
        const data = await readInput(file, 'user-data');
        const r = parseUserData(data, { file });
        const errors = r.diagnostics.filter((d) => d.severity === 'error').length;
        const warnings = r.diagnostics.length - errors;
        for (const d of r.diagnostics) process.stdout.write(`${formatDiagnostic(d)}\n`);
        if (errors > 0) {
          process.stdout.write(`${file}: ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}\n`);
          failed = true;
        } else {
          process.stdout.write(`${file}: OK${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}\n`);
          if (opts.strict && warnings > 0) failed = true;
        }
      }
      if (failed) process.exitCode = 1;
    });

  ci.command('seed')
    .description('make a NoCloud seed image (ISO9660 "cidata", or FAT "CIDATA" with --vfat)')
    .requiredOption('--user-data <file>', 'user-data')
    .option('--meta-data <file>', 'meta-data (an instance-id is generated when it has none)')
    .option('--network-config <file>', 'network configuration (v1 or v2)')
    .option('--vfat', 'make a FAT image instead of ISO9660')
    .option('--state <dir>', 'keep a generated instance-id in this folder, stable across runs')
    .option('--no-validate', 'write the seed even when user-data has errors')
    .requiredOption('-o, --output <file>', 'image to write')
    .action(
      async (opts: { userData: string; metaData?: string; networkConfig?: string; vfat?: boolean; state?: string; validate: boolean; output: string }) => {
        const { makeSeed } = await import('../../cloudinit/seed.js');
        const userData = await readInput(opts.userData, 'user-data');
        const metaData = opts.metaData ? await readInput(opts.metaData, 'meta-data') : undefined;
        const networkConfig = opts.networkConfig ? await readInput(opts.networkConfig, 'network-config') : undefined;
        const r = await makeSeed(
          {
            userData,
            metaData,
            networkConfig,
            format: opts.vfat ? 'vfat' : 'iso',
            stateDir: opts.state,
            onInvalid: opts.validate ? 'error' : 'ignore',
            userDataName: opts.userData,
            metaDataName: opts.metaData,
            networkConfigName: opts.networkConfig,
          },
          opts.output,
        );
        for (const d of r.userData.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
        process.stdout.write(
          `wrote ${r.path} (${r.format === 'iso' ? 'ISO9660 cidata' : 'FAT CIDATA'}, instance-id ${r.instanceId}${r.instanceIdGenerated ? ', generated' : ''})\n`,
        );
      },
    );
}

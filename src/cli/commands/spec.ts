import type { Command } from 'commander';
import { CoracleError, DiagnosticsError, formatDiagnostic } from '../../errors.js';

/** `coracle validate SPEC...`: parse, merge and check specs; print OK or every error. */
export function registerSpecCommands(program: Command): void {
  program
    .command('validate')
    .description('check system spec files (several merge as in a build: later kernel fields win, lists append)')
    .argument('<spec...>', 'YAML system spec files ("-" for standard input)')
    .option('--json', 'print the merged spec as JSON instead of OK')
    .action(async (files: string[], opts: { json?: boolean }) => {
      try {
        const { loadSpecs } = await import('../../spec/index.js');
        const { spec, warnings } = await loadSpecs(files);
        for (const w of warnings) process.stderr.write(`${formatDiagnostic(w)}\n`);
        process.stdout.write(opts.json ? `${JSON.stringify(spec, null, 2)}\n` : 'OK\n');
      } catch (e) {
        if (!(e instanceof DiagnosticsError)) throw e;
        // one located line per problem (editors and CI annotate these), then a summary
        for (const d of e.diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
        const n = e.diagnostics.length;
        throw new CoracleError(`${n} error${n === 1 ? '' : 's'} in ${files.join(', ')}`);
      }
    });
}

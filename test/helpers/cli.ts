import { execa, type Options } from 'execa';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The shared conformance corpus beside the project root. */
export const conformanceRoot = join(projectRoot, '..', 'shared', 'conformance');

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the coracle CLI from source (through tsx), as a user would run it:
 * a separate process, real exit code, real stdout/stderr.
 */
export async function runCli(args: string[], opts: Options = {}): Promise<CliResult> {
  const r = await execa(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'cli.ts'), ...args], {
    reject: false,
    cwd: projectRoot,
    ...opts,
    env: { ...process.env, CI: '1', ...(opts.env ?? {}) },
  });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

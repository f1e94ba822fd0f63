/** Running the Debian tools: fixed time and locale, a failure is one line naming the tool and what it said. */
import { basename } from 'node:path';
import { CoracleError } from '../../errors.js';

export interface ToolRun {
  /** what the tool is making, for the error line */
  making: string;
  /** SOURCE_DATE_EPOCH handed to the tool (mtools and xorriso take their dates from it) */
  epoch: number;
  input?: string;
}

export async function runTool(tool: string, args: readonly string[], run: ToolRun): Promise<string> {
  // loaded here, not with the module: every build imports the disk formats, few make one
  const { execa } = await import('execa');
  const r = await execa(tool, args, {
    reject: false,
    env: { SOURCE_DATE_EPOCH: String(run.epoch), LC_ALL: 'C', TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' },
    ...(run.input !== undefined ? { input: run.input } : { stdin: 'ignore' }),
  });
  if (r.exitCode !== 0 || r.failed) {
    const msg = `${String(r.stderr)}\n${String(r.stdout)}`.split('\n').map((l) => l.trim()).filter(Boolean).slice(-2).join(' / ');
    throw new CoracleError(`${run.making}: ${basename(tool)} failed (${r.exitCode ?? r.signal ?? r.code}): ${msg || 'no message'}`);
  }
  return String(r.stdout);
}

/**
 * The CLI as a separate process (node + tsx on src/cli.ts), its stdout and
 * stderr merged, with a wait for a line; and what is left of a VM after it:
 * QEMU processes found by a string in their command line, a port's state.
 */
import { execa, type ResultPromise } from 'execa';
import { readdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from './cli.js';

export interface CliProcess {
  proc: ResultPromise;
  out: () => string;
  waitFor: (re: RegExp, ms: number) => Promise<void>;
}

export function startCli(args: string[], env: Record<string, string> = {}): CliProcess {
  const proc = execa(process.execPath, ['--import', 'tsx', join(projectRoot, 'src', 'cli.ts'), ...args], {
    cwd: projectRoot,
    reject: false,
    stdin: 'pipe',
    all: true,
    env: { CI: '1', ...env },
  });
  let text = '';
  proc.all!.setEncoding('utf8');
  proc.all!.on('data', (d: string) => (text += d));
  const waitFor = (re: RegExp, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + ms;
      const tick = () => {
        if (re.test(text)) return resolve();
        if (proc.exitCode !== null || Date.now() > deadline) return reject(new Error(`no ${re} in CLI output:\n${text.slice(-3000)}`));
        setTimeout(tick, 200);
      };
      tick();
    });
  return { proc, out: () => text, waitFor };
}

/** Pids of qemu-system processes whose command line contains `needle`. */
export async function qemuProcesses(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(join('/proc', e, 'cmdline'), 'utf8').catch(() => '');
    const argv = cmd.split('\0');
    if (argv.some((a) => a.includes('qemu-system')) && cmd.includes(needle)) pids.push(Number(e));
  }
  return pids;
}

/** Poll until no such QEMU is left (or the deadline); returns what is left. */
export async function qemuGone(needle: string, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = await qemuProcesses(needle);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Poll until the port can be bound (or the deadline); true when it can. A
 * killed QEMU's command line reads empty (its memory is released) before its
 * sockets are closed, so "no QEMU left" can come a moment before the port is free.
 */
export async function portFreed(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await portFree(port)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** True when a TCP port on 127.0.0.1 can be bound. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

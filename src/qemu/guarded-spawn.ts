/**
 * Spawn a QEMU that cannot outlive this process, whatever ends it.
 *
 * On Linux the child is started under util-linux `setpriv --pdeathsig KILL`
 * (util-linux >= 2.33; Debian 12 has 2.38): the kernel sends SIGKILL to it
 * the moment this process dies, SIGKILL of the CLI included — no watchdog
 * process, no window. Where setpriv is missing, an exit hook kills the child
 * on any ordinary exit (not on SIGKILL of the CLI: the warning says so once).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

let setprivPath: string | null | undefined;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `command` would be run from (PATH lookup), or null. */
function onPath(command: string, extra: string[] = []): string | null {
  if (command.includes('/')) return executable(command) ? command : null;
  for (const d of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extra]) {
    if (executable(join(d, command))) return join(d, command);
  }
  return null;
}

/** setpriv on PATH (or /usr/bin), or null. Cached. */
export function findSetpriv(): string | null {
  if (setprivPath === undefined) setprivPath = process.platform === 'linux' ? onPath('setpriv', ['/usr/bin', '/bin']) : null;
  return setprivPath;
}

const live = new Set<ChildProcess>();
let hooked = false;

function killLive(): void {
  for (const c of live) {
    try {
      if (c.pid) process.kill(-c.pid, 'SIGKILL');
    } catch {
      c.kill('SIGKILL');
    }
  }
}

/**
 * spawn(command, args) so that the child dies with this process. The
 * child's pid is QEMU's own (setpriv execs it).
 */
export function spawnGuarded(command: string, args: string[], options: SpawnOptions): ChildProcess {
  // A missing command is left to spawn() so its error stays "cannot run X".
  const setpriv = onPath(command) ? findSetpriv() : null;
  const child = setpriv ? spawn(setpriv, ['--pdeathsig', 'KILL', '--', command, ...args], options) : spawn(command, args, options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  if (!hooked) {
    hooked = true;
    process.once('exit', killLive);
  }
  return child;
}

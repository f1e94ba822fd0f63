/**
 * Service logs and a bounded shutdown, as a user sees them: `coracle run
 * qemu` in one process, `coracle logs` in others, talking to the guest's
 * logd through the control channel the run serves in its state folder.
 * One boot:
 *   - every container's output (a service, an onboot container) read back
 *     with `coracle logs`, whole, its last N lines, and followed;
 *   - /var/log/NAME.log rotated at coracle.log_size (4K here), two kept,
 *     as a service that binds /var/log sees them;
 *   - a failing service's last 10 lines on the console;
 *   - at poweroff: a service ignoring SIGTERM is killed after its
 *     stop_timeout, an onshutdown container runs anyway, one that hangs
 *     (no timeout:) is killed after the default 30 s, and the whole
 *     shutdown ends in a clean poweroff within the bound.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, type CliProcess } from '../helpers/cli-process.js';
import { projectRoot } from '../helpers/cli.js';
import { BOOT_TIMEOUT_MS } from '../helpers/qemu.js';
import { buildSystem, ensureSystemImages } from '../helpers/system.js';

const pkg = (n: string) => `"@pkg:${join(projectRoot, 'images', n)}"`;
const CHATTY_LINES = 600;
const SPEC = `kernel:
  image: ${pkg('kernel')}
  cmdline: "console=ttyS0 coracle.log_size=4K coracle.log_files=2"
init:
  - ${pkg('init')}
  - ${pkg('crun')}
  - ${pkg('containerd')}
onboot:
  - name: greet
    image: ${pkg('busybox')}
    command: [sh, -c, "echo hello from onboot"]
onshutdown:
  - name: bye
    image: ${pkg('busybox')}
    command: [sh, -c, "echo onshutdown ran"]
  - name: stuck
    image: ${pkg('busybox')}
    command: [sh, -c, "echo stuck at shutdown; sleep 600"]
services:
  # ~29 bytes a line: ${CHATTY_LINES} lines are four 4K files and a bit
  - name: chatty
    image: ${pkg('busybox')}
    restart: "no"
    command: [sh, -c, "i=0; while [ $i -lt ${CHATTY_LINES} ]; do i=$((i+1)); echo \\"chatty line $i of ${CHATTY_LINES} .....\\"; done; echo chatty line done; trap 'exit 0' TERM; while :; do sleep 1; done"]
  - name: fail
    image: ${pkg('busybox')}
    restart: "no"
    command: [sh, -c, "sleep 2; for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo fail line $i; done; sleep 1; echo boom >&2; exit 2"]
  - name: lister
    image: ${pkg('busybox')}
    restart: "no"
    binds: [/var/log:/var/log:ro]
    command: [sh, -c, "while ! grep -q 'chatty line done' /var/log/chatty.log 2>/dev/null; do sleep 1; done; for f in /var/log/chatty.log /var/log/chatty.log.1 /var/log/chatty.log.2 /var/log/chatty.log.3; do [ -e $f ] && echo \\"file $f $(wc -c <$f) $(head -n 1 $f | cut -d' ' -f3) $(tail -n 1 $f | cut -d' ' -f3)\\"; done; echo listed; trap 'exit 0' TERM; while :; do sleep 1; done"]
  - name: ticker
    image: ${pkg('busybox')}
    command: [sh, -c, "trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo tick $i; sleep 1; done"]
  - name: stubborn
    image: ${pkg('busybox')}
    stop_timeout: 3s
    command: [sh, -c, "trap '' TERM; echo ignoring TERM; while :; do sleep 1; done"]
`;

let dir: string;
let state: string;
let run: CliProcess | undefined;
/** When each console line came, in seconds since the boot started (for failure messages). */
const arrivals: string[] = [];
const timeline = () => arrivals.join('\n');

/** `coracle logs ARGS --state STATE`, to its end. */
async function logs(...args: string[]): Promise<{ code: number | undefined; out: string }> {
  const p = startCli(['logs', ...args, '--state', state, '--timeout', '60']);
  const r = await p.proc;
  return { code: r.exitCode, out: p.out() };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-logs-'));
  state = join(dir, 'state');
  await ensureSystemImages(['busybox', 'containerd', 'crun', 'init', 'kernel']);
  const spec = join(dir, 'logs.yml');
  await writeFile(spec, SPEC);
  await buildSystem([spec], join(dir, 'out'), 'logs');
  run = startCli(['run', 'qemu', join(dir, 'out'), '--accel', 'tcg', '--state', state, '--log', join(dir, 'console.log'), '--stop-timeout', '300']);
  const t0 = Date.now();
  let partial = '';
  run.proc.all!.on('data', (d: Buffer | string) => {
    const parts = (partial + d.toString()).split('\n');
    partial = parts.pop()!;
    for (const l of parts) if (l.includes('coracle: ')) arrivals.push(`${((Date.now() - t0) / 1000).toFixed(1)} ${l.trim()}`);
  });
  await run.waitFor(/coracle: all services started/, BOOT_TIMEOUT_MS);
  // the agent starts once the services have; the lister once chatty is done
  await run.waitFor(/ {2}fail \| boom/, 120_000);
});

afterAll(async () => {
  run?.proc.kill('SIGKILL');
  await run?.proc;
  if (dir) await rm(dir, { recursive: true, force: true });
});

const consoleLines = () => run!.out().replace(/\r/g, '').split('\n');

describe('service logs', () => {
  it('a failing service\'s last 10 lines follow its exit on the console', () => {
    const lines = consoleLines();
    const at = lines.indexOf('coracle: service fail exited with status 2');
    expect(at, run!.out().slice(-3000)).toBeGreaterThanOrEqual(0);
    expect(lines.slice(at + 1, at + 12)).toEqual([
      'coracle: service fail output (last 10 lines):',
      ...[4, 5, 6, 7, 8, 9, 10, 11, 12].map((i) => `  fail | fail line ${i}`),
      '  fail | boom',
    ]);
  });

  it('coracle logs NAME prints a service\'s whole output from the guest\'s ring buffer', async () => {
    const r = await logs('chatty');
    expect(r.code, r.out).toBe(0);
    const want = [...Array.from({ length: CHATTY_LINES }, (_, i) => `chatty line ${i + 1} of ${CHATTY_LINES} .....`), 'chatty line done'];
    expect(r.out.split('\n').filter((l) => l !== '')).toEqual(want);
  });

  it('--tail N: the last N lines; an onboot container by its spec name', async () => {
    expect((await logs('chatty', '--tail', '2')).out).toBe(`chatty line ${CHATTY_LINES} of ${CHATTY_LINES} .....\nchatty line done\n`);
    expect((await logs('greet')).out).toBe('hello from onboot\n');
    expect((await logs('onboot/000-greet', '-n', '1')).out).toBe('hello from onboot\n');
  });

  it('an unknown name is a one-line error naming the containers there are', async () => {
    const r = await logs('nope');
    expect(r.code).toBe(1);
    expect(r.out.trim()).toMatch(/^coracle: guest: no container named nope \(logs: chatty, fail, lister, onboot\/000-greet, onshutdown\/000-bye, onshutdown\/001-stuck, stubborn, ticker\)$/);
  });

  it('/var/log/NAME.log is rotated at the size, two older files kept, lines whole and in order', async () => {
    const r = await logs('lister');
    expect(r.out, r.out).toContain('listed');
    const files = [...r.out.matchAll(/^file (\S+) (\d+) (\S+) (\S+)$/gm)].map((m) => ({ path: m[1]!, size: Number(m[2]), first: m[3]!, last: m[4]! }));
    expect(files.map((f) => f.path)).toEqual(['/var/log/chatty.log', '/var/log/chatty.log.1', '/var/log/chatty.log.2']);
    // a line that reached logd in two pieces finishes in the file it began in
    for (const f of files) expect(f.size, f.path).toBeLessThanOrEqual(4096 + 64);
    // .2 then .1 then the current one: consecutive lines (the oldest file dropped)
    const [cur, one, two] = files as [(typeof files)[0], (typeof files)[0], (typeof files)[0]];
    expect(Number(one.first)).toBe(Number(two.last) + 1);
    expect(Number(cur.first)).toBe(Number(one.last) + 1);
    expect(cur.last).toBe('done');
    expect(Number(two.first)).toBeGreaterThan(1);
  });

  it('--follow prints new lines as they come and ends cleanly on Ctrl-C', async () => {
    const f = startCli(['logs', 'ticker', '--follow', '--tail', '1', '--state', state, '--timeout', '60']);
    try {
      await f.waitFor(/^tick \d+$/m, 60_000);
      const first = Number(/^tick (\d+)$/m.exec(f.out())![1]);
      await f.waitFor(new RegExp(`^tick ${first + 2}$`, 'm'), 60_000);
      f.proc.kill('SIGINT');
      const r = await f.proc;
      expect(r.exitCode, f.out()).toBe(0);
      const ticks = [...f.out().matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
      expect(ticks.slice(0, 3)).toEqual([first, first + 1, first + 2]);
    } finally {
      f.proc.kill('SIGKILL');
    }
    // the channel is free again for the next client
    expect((await logs('greet')).out).toBe('hello from onboot\n');
  });
});

describe('bounded shutdown', () => {
  it('a service ignoring SIGTERM is killed after its stop_timeout, onshutdown runs, a hanging one is killed after 30 s, and the poweroff is clean', async () => {
    const t0 = Date.now();
    run!.proc.kill('SIGINT');
    const r = await run!.proc;
    const seconds = (Date.now() - t0) / 1000;
    const lines = consoleLines().filter((l) => l.startsWith('coracle: '));
    const order = [
      'coracle: shutdown',
      'coracle: onshutdown 000-bye started',
      'coracle: onshutdown 000-bye exited 0',
      'coracle: onshutdown 001-stuck started',
      'coracle: onshutdown 001-stuck killed after 30s (timeout)',
      'coracle: onshutdown 001-stuck exited',
      'coracle: service stubborn killed after 3s',
      'coracle: shutdown complete',
    ];
    const at = order.map((s) => lines.findIndex((l) => l.startsWith(s)));
    expect(at.every((i) => i >= 0), `${order.join('\n')}\nin\n${timeline()}`).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(run!.out()).toContain('onshutdown ran');
    // a service that stops on SIGTERM
    expect(lines).toContain('coracle: service ticker stopped');
    expect(r.exitCode, run!.out().slice(-3000)).toBe(0);
    expect(run!.out()).toContain('guest ended: poweroff (status 0)');
    expect(lines.some((l) => l.startsWith('coracle: shutdown not complete'))).toBe(false);
    // the guest's bound: 60 s + the onshutdown timeouts (30 + 30) + the longest stop timeout (10)
    expect(seconds, timeline()).toBeLessThan(130);
    console.log(`shutdown: ${seconds.toFixed(1)} s from Ctrl-C to the runner's exit\n${timeline()}`);
  });
});

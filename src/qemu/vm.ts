/**
 * One QEMU process: start it, read and write its serial console, wait for
 * console lines, shut it down through QMP, and learn how the guest ended.
 *
 * Guest status (RunResult.status):
 *   0    the guest powered off (or rebooted: QEMU runs with -no-reboot)
 *   2    the guest kernel panicked (pvpanic event, or a "Kernel panic" line
 *        on the console when the panic came before the driver loaded)
 *   137  the VM was killed (kill(), a second Ctrl-C in the CLI, or QEMU
 *        itself was signalled or told to quit)
 *   124  the guest did not power off within the stop timeout after the
 *        ACPI power button and was stopped hard (shutdown())
 *   1    QEMU failed or ended without the guest shutting down
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { CoracleError } from '../errors.js';
import { buildQemuArgs, type QemuConfig } from './args.js';
import { spawnGuarded } from './guarded-spawn.js';
import { QmpClient, type QmpEvent } from './qmp.js';

export type EndReason = 'poweroff' | 'reboot' | 'panic' | 'killed' | 'stop-timeout' | 'failed';

export interface RunResult {
  status: number;
  reason: EndReason;
  /** QEMU's own exit code (null when it died from a signal) */
  qemuExitCode: number | null;
  qemuSignal: NodeJS.Signals | null;
  /** last lines QEMU wrote on stderr, for failures */
  qemuStderr: string;
}

export const STATUS: Record<EndReason, number> = { poweroff: 0, reboot: 0, panic: 2, killed: 137, 'stop-timeout': 124, failed: 1 };

export interface QemuVmOptions extends Omit<QemuConfig, 'qmpSocket'> {
  qemu?: string;
  /** where the QMP socket goes (a short temporary folder when unset) */
  stateDir?: string;
  /** console output is copied here as it arrives (e.g. process.stdout, a log file) */
  consoleSinks?: Writable[];
}

const PANIC_LINE = /Kernel panic - not syncing/;
/** How often shutdown() and stop() press the power button again. */
const POWER_BUTTON_REPEAT_MS = 5_000;

export class QemuVm extends EventEmitter<{ console: [string]; exit: [RunResult] }> {
  private child?: ChildProcess;
  private qmp?: QmpClient;
  private consoleText = '';
  private stderrText = '';
  private shutdownReason?: string;
  private panicked = false;
  private killedByUs = false;
  private stoppedHard = false;
  private shuttingDown?: Promise<RunResult>;
  private result?: RunResult;
  private exited: Promise<RunResult>;
  private resolveExit!: (r: RunResult) => void;
  private tmpDir?: string;
  readonly args: string[] = [];

  constructor(private readonly opts: QemuVmOptions) {
    super();
    this.exited = new Promise((r) => (this.resolveExit = r));
  }

  /** Everything the guest printed on its serial console so far. */
  get console(): string {
    return this.consoleText;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) throw new Error('QemuVm already started');
    let sockDir = this.opts.stateDir;
    // Unix socket paths are limited to 107 bytes.
    if (!sockDir || join(sockDir, 'qmp.sock').length > 100) {
      this.tmpDir = await mkdtemp(join(tmpdir(), 'coracle-qmp-'));
      sockDir = this.tmpDir;
    }
    const qmpSocket = join(sockDir, 'qmp.sock');
    await rm(qmpSocket, { force: true });
    this.args.push(...buildQemuArgs({ ...this.opts, qmpSocket }));
    // Dies with this process whatever ends it (setpriv --pdeathsig KILL).
    const child = spawnGuarded(this.opts.qemu ?? 'qemu-system-x86_64', this.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      // Own process group: a terminal Ctrl-C reaches the runner, not QEMU.
      detached: true,
    });
    this.child = child;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onConsole(d));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.stderrText = (this.stderrText + d).slice(-4096);
    });
    child.stdin!.on('error', () => undefined);
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (e) => reject(new CoracleError(`cannot run ${this.opts.qemu ?? 'qemu-system-x86_64'}: ${e.message}`)));
    });
    child.once('exit', (code, signal) => void this.onExit(code, signal));
    await spawned;
    try {
      // Stop waiting for the socket as soon as QEMU ends (bad arguments ...).
      const connecting = QmpClient.connect(qmpSocket, 15_000);
      connecting.catch(() => undefined); // a late failure after QEMU ended is not an error
      const qmp = await Promise.race([connecting, this.exited.then(() => undefined)]);
      if (!qmp) return;
      this.qmp = qmp;
      this.qmp.on('event', (e) => this.onEvent(e));
    } catch (e) {
      if (this.result) return;
      this.kill();
      throw new CoracleError(`QEMU's control socket did not come up: ${(e as Error).message}`);
    }
  }

  private onConsole(d: string): void {
    this.consoleText += d;
    for (const s of this.opts.consoleSinks ?? []) s.write(d);
    this.emit('console', d);
    if (!this.panicked && PANIC_LINE.test(this.consoleText.slice(-d.length - 64))) {
      this.panicked = true;
      // Panics before the pvpanic driver loads would hang: end the VM.
      setTimeout(() => this.child?.exitCode === null && this.signal('SIGKILL'), 2000).unref();
    }
  }

  private onEvent(e: QmpEvent): void {
    if (e.event === 'SHUTDOWN') this.shutdownReason = String(e.data?.reason ?? '');
    if (e.event === 'GUEST_PANICKED') this.panicked = true;
  }

  private async onExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    this.qmp?.close();
    if (this.tmpDir) await rm(this.tmpDir, { recursive: true, force: true }).catch(() => undefined);
    let reason: EndReason;
    if (this.panicked) reason = 'panic';
    else if (this.stoppedHard) reason = 'stop-timeout';
    else if (this.killedByUs || this.shutdownReason === 'host-signal' || this.shutdownReason === 'host-qmp-quit') reason = 'killed';
    else if (this.shutdownReason === 'guest-reset') reason = 'reboot';
    else if (this.shutdownReason === 'guest-shutdown' || (code === 0 && !this.shutdownReason)) reason = 'poweroff';
    else reason = 'failed';
    this.result = {
      status: STATUS[reason],
      reason,
      qemuExitCode: code,
      qemuSignal: signal,
      qemuStderr: this.stderrText.trim(),
    };
    this.emit('exit', this.result);
    this.resolveExit(this.result);
  }

  /** Resolves when QEMU has exited. */
  wait(): Promise<RunResult> {
    return this.exited;
  }

  get running(): boolean {
    return !!this.child && !this.result;
  }

  /**
   * Wait until the console output (since the start, or since `from`) matches
   * `re`. Rejects on timeout or when the VM ends first, with the console tail.
   */
  waitForConsole(re: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = this.consoleText.slice(from).match(re);
        if (m) {
          cleanup();
          resolve(m);
          return true;
        }
        return false;
      };
      const tail = () => this.consoleText.slice(-2000);
      const onExit = (r: RunResult) => {
        if (check()) return;
        cleanup();
        reject(new Error(`VM ended (${r.reason}) before console matched ${re}\n--- console tail ---\n${tail()}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`console did not match ${re} within ${timeoutMs} ms\n--- console tail ---\n${tail()}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('console', onData);
        this.off('exit', onExit);
      };
      const onData = () => void check();
      if (check()) return;
      if (this.result) return onExit(this.result);
      this.on('console', onData);
      this.on('exit', onExit);
    });
  }

  /** Type into the serial console. */
  sendConsole(text: string): void {
    this.child?.stdin?.write(text);
  }

  /** Forward a readable (e.g. process.stdin) into the serial console. */
  attachInput(input: NodeJS.ReadableStream): void {
    input.on('data', (d: Buffer | string) => this.child?.stdin?.write(d));
  }

  /** The ACPI power button: the guest shuts down cleanly. */
  async powerdown(): Promise<void> {
    if (!this.qmp || this.result) return;
    await this.qmp.execute('system_powerdown');
  }

  /**
   * The power button, pressed again every few seconds until QEMU exits: a
   * press is an edge the guest sees only if something listens, and during
   * the kernel's boot or before its init starts acpid nothing does. The
   * Coracle init acts on the first press it sees and ignores the rest.
   * Returns the function that stops pressing.
   */
  private pressUntilDown(): () => void {
    void this.powerdown().catch(() => undefined);
    const again = setInterval(() => void this.powerdown().catch(() => undefined), POWER_BUTTON_REPEAT_MS);
    const stop = () => clearInterval(again);
    this.exited.finally(stop).catch(() => undefined);
    return stop;
  }

  async qmpCommand(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (!this.qmp) throw new Error('QMP not connected');
    return this.qmp.execute(command, args);
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child?.pid;
    if (!pid || this.result) return;
    try {
      process.kill(-pid, sig);
    } catch {
      this.child?.kill(sig);
    }
  }

  /** Kill QEMU at once (status 137). */
  kill(): void {
    if (!this.child || this.result) return;
    this.killedByUs = true;
    this.signal('SIGKILL');
  }

  /**
   * The bounded stop: the ACPI power button, then, if the guest is still up
   * after `timeoutMs`, a hard stop through QMP `quit` (SIGKILL if QEMU does
   * not answer within 5 s); the result's reason is then 'stop-timeout'.
   * `onTimeout` is called just before the hard stop. Calling it again while
   * a shutdown is under way returns the same promise.
   */
  shutdown(timeoutMs: number, onTimeout?: () => void): Promise<RunResult> {
    if (this.result) return Promise.resolve(this.result);
    this.shuttingDown ??= (async () => {
      const stopPressing = this.pressUntilDown();
      const t = setTimeout(() => {
        stopPressing();
        if (this.result) return;
        onTimeout?.();
        this.stoppedHard = true;
        const k = setTimeout(() => this.signal('SIGKILL'), 5_000);
        this.exited.finally(() => clearTimeout(k)).catch(() => undefined);
        if (this.qmp) this.qmp.execute('quit').catch(() => this.signal('SIGKILL'));
        else this.signal('SIGKILL');
      }, timeoutMs);
      try {
        return await this.wait();
      } finally {
        clearTimeout(t);
      }
    })();
    return this.shuttingDown;
  }

  /** Power down and wait up to `timeoutMs`, then kill. */
  async stop(timeoutMs = 60_000): Promise<RunResult> {
    if (this.result) return this.result;
    const stopPressing = this.pressUntilDown();
    const t = setTimeout(() => this.kill(), timeoutMs);
    try {
      return await this.wait();
    } finally {
      clearTimeout(t);
      stopPressing();
    }
  }
}

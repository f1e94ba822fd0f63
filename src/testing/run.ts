/**
 * runTest: boot a built system under QEMU (through runQemu, with the
 * control channel attached), run a test file's steps in order, and always
 * end the VM. The library behind `coracle test`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiagnosticsError, type SourceDiagnostic } from '../errors.js';
import { JSON_SCHEMA_VERSION } from '../report/json.js';
import type { RunQemuOptions } from '../qemu/run.js';
import { parsePublish, type AccelChoice, type DiskSpec, type PublishSpec } from '../qemu/options.js';
import { runQemu } from '../qemu/run.js';
import type { QemuVm, RunResult } from '../qemu/vm.js';
import { silentReporter, type Reporter } from '../progress/reporter.js';
import { ConsoleWatch } from './console-watch.js';
import { ControlChannel } from './control.js';
import { runStep, type StepContext } from './steps.js';
import type { StepResult, TestFile, TestReport } from './types.js';

export interface RunTestOptions {
  test: TestFile;
  /** kernel + initrd, or an image file (iso, raw, qcow2 ...) */
  boot: RunQemuOptions['boot'];
  /** what was booted, for the report (spec or image folder) */
  target: string;
  /** every forwarded port: resolvePublish(test, command line's) */
  publish: PublishSpec[];
  disks?: DiskSpec[];
  /** user-data file (validated), attached as a NoCloud seed ISO */
  userDataFile?: string;
  mem?: number;
  cpus?: number;
  accel?: AccelChoice;
  /** services the spec runs: exec steps naming another one are refused before booting */
  services?: readonly string[];
  stateDir: string;
  logFile?: string;
  kvmCacheFile?: string;
  qemu?: string;
  reporter?: Reporter;
  /** called after each step (the CLI prints its line) */
  onStep?: (r: StepResult) => void;
  /** aborting kills the VM (Ctrl-C) */
  signal?: AbortSignal;
  /** a guest left running after the last step gets this long to power off, then is killed */
  shutdownMs?: number;
}

async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** The test file's `publish:` (a bare guest port gets a free loopback port) and the command line's. */
export async function resolvePublish(test: TestFile, extra: readonly PublishSpec[]): Promise<PublishSpec[]> {
  const out: PublishSpec[] = [];
  for (const p of test.publish) {
    if (/^\d+$/.test(p)) out.push({ hostAddress: '127.0.0.1', hostPort: await freeLoopbackPort(), guestPort: Number(p), protocol: 'tcp' });
    else out.push(parsePublish(p));
  }
  return [...out, ...extra];
}

/** Before booting: every http port is published, every exec service exists. */
export function checkSteps(test: TestFile, publish: readonly PublishSpec[], services?: readonly string[]): void {
  const errors: SourceDiagnostic[] = [];
  const tcp = new Set(publish.filter((p) => p.protocol === 'tcp').map((p) => p.guestPort));
  for (const s of test.steps) {
    const at = (f: string) => s.fieldAt[f] ?? s.at;
    if (s.kind === 'http' && !tcp.has(s.port))
      errors.push({ ...at('port'), severity: 'error', message: `step ${s.index} (http): guest port ${s.port} is not published (add --publish HOST:${s.port}, or "publish: [${s.port}]" to the test file)` });
    if (s.kind === 'exec' && s.service !== undefined && services && !services.includes(s.service))
      errors.push({ ...at('service'), severity: 'error', message: `step ${s.index} (exec): the spec has no service "${s.service}" (${services.join(', ') || 'none'})` });
  }
  if (errors.length > 0) throw new DiagnosticsError(errors);
}

export async function runTest(opts: RunTestOptions): Promise<TestReport> {
  const started = Date.now();
  const reporter = opts.reporter ?? silentReporter;
  const publish = opts.publish;
  checkSteps(opts.test, publish, opts.services);
  const published = new Map<number, { host: string; port: number }>();
  for (const p of publish) {
    if (p.protocol === 'tcp' && !published.has(p.guestPort))
      published.set(p.guestPort, { host: p.hostAddress && p.hostAddress !== '0.0.0.0' ? p.hostAddress : '127.0.0.1', port: p.hostPort });
  }
  // a short folder of its own: Unix socket paths are limited to 107 bytes
  const sockDir = await mkdtemp(join(tmpdir(), 'coracle-ctl-'));
  const controlSocket = join(sockDir, 'control.sock');
  let onStart!: (vm: QemuVm) => void;
  const startedVm = new Promise<QemuVm>((r) => (onStart = r));
  const run = runQemu({
    boot: opts.boot,
    mem: opts.mem ?? opts.test.mem ?? 1024,
    cpus: opts.cpus ?? 1,
    accel: opts.accel ?? 'auto',
    publish,
    disks: opts.disks ?? [],
    ...(opts.userDataFile ? { userDataFile: opts.userDataFile, validateUserData: true } : {}),
    stateDir: opts.stateDir,
    ...(opts.logFile ? { logFile: opts.logFile } : {}),
    ...(opts.kvmCacheFile ? { kvmCacheFile: opts.kvmCacheFile } : {}),
    ...(opts.qemu ? { qemu: opts.qemu } : {}),
    reporter,
    controlSocket,
    onStart,
  });
  let vm: QemuVm;
  try {
    vm = await Promise.race([startedVm, run.then((r): never => {
      throw new Error(`QEMU ended before the guest started (${r.reason}): ${r.qemuStderr.split('\n').slice(-2).join(' ')}`);
    })]);
  } catch (e) {
    await rm(sockDir, { recursive: true, force: true });
    throw e;
  }
  const kill = () => vm.kill();
  opts.signal?.addEventListener('abort', kill, { once: true });
  if (opts.signal?.aborted) kill();
  const watch = new ConsoleWatch(vm);
  let control: Promise<ControlChannel | undefined> | undefined;
  const ctx: StepContext = {
    vm,
    console: watch,
    published,
    control: () => (control ??= ControlChannel.connect(controlSocket).catch(() => undefined)),
  };
  const steps: StepResult[] = [];
  let failed = false;
  let result: RunResult | undefined;
  try {
    for (const step of opts.test.steps) {
      const t0 = Date.now();
      const base = { index: step.index, kind: step.kind, label: step.label, file: step.at.file, line: step.at.line, col: step.at.col };
      let r: StepResult;
      if (failed) r = { ...base, status: 'skip', durationMs: 0 };
      else {
        const o = await runStep(step, ctx).catch((e: unknown) => ({ ok: false, message: (e as Error).message }));
        if (opts.signal?.aborted) o.ok = false;
        r = { ...base, status: o.ok ? 'pass' : 'fail', durationMs: Date.now() - t0, ...(o.ok ? {} : { message: opts.signal?.aborted ? 'interrupted' : o.message }) };
        failed ||= !o.ok;
      }
      steps.push(r);
      opts.onStep?.(r);
    }
  } finally {
    // the VM never outlives the run: a failed one is killed, a passing one powered off
    if (vm.running) {
      if (failed) vm.kill();
      else await vm.stop(opts.shutdownMs ?? 60_000).catch(() => vm.kill());
    }
    result = await run.catch(() => undefined);
    opts.signal?.removeEventListener('abort', kill);
    (await control)?.close();
    await rm(sockDir, { recursive: true, force: true });
  }
  return {
    schemaVersion: JSON_SCHEMA_VERSION,
    file: opts.test.file,
    target: opts.target,
    passed: !failed,
    steps,
    ...(result ? { guest: { reason: result.reason, status: result.status } } : {}),
    durationMs: Date.now() - started,
    ...(failed ? { consoleTail: watch.tail(50) } : {}),
  };
}

/** Running one step against a booted guest: pass, or fail with a one-line reason. */
import { spawn } from 'node:child_process';
import { dirname, resolve as resolvePath } from 'node:path';
import type { QemuVm } from '../qemu/vm.js';
import type { ConsoleWatch } from './console-watch.js';
import type { ControlChannel } from './control.js';
import { formatDuration } from './duration.js';
import type { ConsoleStep, ExecStep, HttpStep, LocalStep, OutputCheck, PoweroffStep, Step } from './types.js';

export interface StepContext {
  vm: QemuVm;
  console: ConsoleWatch;
  /** guest TCP port -> host address:port it is published on */
  published: Map<number, { host: string; port: number }>;
  /** the control channel, connected on first use */
  control: () => Promise<ControlChannel | undefined>;
}

export interface StepOutcome {
  ok: boolean;
  message?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const short = (s: string, n = 60) => JSON.stringify(s.length > n ? `${s.slice(0, n - 3)}...` : s);

export async function runStep(step: Step, ctx: StepContext): Promise<StepOutcome> {
  switch (step.kind) {
    case 'console':
      return consoleStep(step, ctx);
    case 'http':
      return httpStep(step, ctx);
    case 'exec':
      return execStep(step, ctx);
    case 'local':
      return localStep(step, ctx);
    case 'poweroff':
      return poweroffStep(step, ctx);
  }
}

async function consoleStep(step: ConsoleStep, ctx: StepContext): Promise<StepOutcome> {
  const { result, missing } = await ctx.console.wait(step.match, step.timeoutMs);
  if (result === 'matched') return { ok: true };
  const what = missing.map((re) => `/${re.source}/`).join(', ');
  const several = missing.length > 1;
  if (result === 'ended') return { ok: false, message: `the guest stopped before ${several ? 'console lines matched' : 'a console line matched'} ${what}` };
  return { ok: false, message: `no ${several ? 'console lines' : 'console line'} matched ${what} within ${formatDuration(step.timeoutMs)}` };
}

/** Ask until the answer is the expected one or the time is up (the service may still be starting). */
async function httpStep(step: HttpStep, ctx: StepContext): Promise<StepOutcome> {
  const to = ctx.published.get(step.port)!;
  const url = `http://${to.host}:${to.port}${step.path}`;
  const deadline = Date.now() + step.timeoutMs;
  let last = 'no answer';
  while (ctx.vm.running) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(Math.max(1000, Math.min(10_000, deadline - Date.now()))) });
      const body = await res.text();
      if (res.status !== step.status) last = `status ${res.status}, expected ${step.status}`;
      else if (step.body !== undefined && !body.includes(step.body)) last = `status ${res.status} but the body lacks ${short(step.body)} (got ${short(body.trim())})`;
      else return { ok: true };
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      last = cause ? `no answer (${cause})` : (e as Error).name === 'TimeoutError' ? 'no answer (timed out)' : `no answer (${(e as Error).message})`;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(1000, Math.max(0, deadline - Date.now())));
  }
  if (!ctx.vm.running) return { ok: false, message: `GET ${url} (guest port ${step.port}): the guest stopped; last try: ${last}` };
  return { ok: false, message: `GET ${url} (guest port ${step.port}) within ${formatDuration(step.timeoutMs)}: ${last}` };
}

async function execStep(step: ExecStep, ctx: StepContext): Promise<StepOutcome> {
  const deadline = Date.now() + step.timeoutMs;
  const control = await ctx.control();
  if (!control) return { ok: false, message: 'no control channel' };
  if (!(await control.waitReady(step.timeoutMs, () => ctx.vm.running)))
    return { ok: false, message: `the guest agent did not answer on the control channel within ${formatDuration(step.timeoutMs)} (does the init image carry /usr/lib/coracle/agent?)` };
  const where = step.service === undefined ? 'on the host' : `in ${step.service}`;
  const r = await control.exec(step.service, step.run, Math.max(1, deadline - Date.now()));
  if (!r) return { ok: false, message: `${short(step.run)} ${where} did not finish within ${formatDuration(step.timeoutMs)}` };
  return checkOutput(step, r.status, r.output, `${short(step.run)} ${where}`);
}

/** The command's exit status and output against the step's status, expect and match; `what` names the command. */
export function checkOutput(step: OutputCheck, status: number, output: string, what: string): StepOutcome {
  const out = output.trim();
  const got = `(got ${short(out.replace(/\n/g, '\\n'), 120)})`;
  if (status !== step.status) {
    const lastLine = out.split('\n').at(-1) ?? '';
    return { ok: false, message: `${what} exited ${status}, expected ${step.status}${out ? `: ${short(lastLine, 120)}` : ''}` };
  }
  for (const e of step.expect) if (!output.includes(e)) return { ok: false, message: `the output of ${what} lacks ${short(e)} ${got}` };
  for (const re of step.match) if (!re.test(output)) return { ok: false, message: `the output of ${what} does not match /${re.source}/ ${got}` };
  return { ok: true };
}

/** CORACLE_PORT_<GUEST> and CORACLE_ADDR_<GUEST> for every published TCP port. */
export function localEnv(published: StepContext['published']): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [guest, to] of published) {
    env[`CORACLE_PORT_${guest}`] = String(to.port);
    env[`CORACLE_ADDR_${guest}`] = to.host;
  }
  return env;
}

/** `sh -c RUN` on this machine, in the folder of the file the step is written in; killed (its whole process group) at the step's timeout. */
async function localStep(step: Step & LocalStep, ctx: StepContext): Promise<StepOutcome> {
  const what = short(step.run);
  const r = await new Promise<{ status: number; output: string; timedOut: boolean } | { error: string }>((resolve) => {
    let output = '';
    let timedOut = false;
    const child = spawn('/bin/sh', ['-c', step.run], {
      cwd: dirname(resolvePath(step.at.file)),
      env: { ...process.env, ...localEnv(ctx.published) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const add = (d: Buffer) => {
      // keep the last MiB: enough for any check, bounded for a chatty command
      output = (output + d.toString('utf8')).slice(-1 << 20);
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, step.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ error: e.message });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? 128 + (signal ? (({ SIGKILL: 9, SIGTERM: 15, SIGINT: 2 }) as Record<string, number>)[signal] ?? 0 : 0), output, timedOut });
    });
  });
  if ('error' in r) return { ok: false, message: `${what} could not start: ${r.error}` };
  if (r.timedOut) return { ok: false, message: `${what} did not finish within ${formatDuration(step.timeoutMs)}` };
  return checkOutput(step, r.status, r.output, what);
}

async function poweroffStep(step: PoweroffStep, ctx: StepContext): Promise<StepOutcome> {
  if (!ctx.vm.running) return { ok: false, message: 'the guest had already stopped' };
  await ctx.vm.powerdown().catch(() => undefined);
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([ctx.vm.wait(), new Promise<undefined>((res) => (timer = setTimeout(() => res(undefined), step.withinMs)))]);
  clearTimeout(timer);
  if (!r) return { ok: false, message: `the guest did not power off within ${formatDuration(step.withinMs)} of the power button` };
  if (r.reason !== 'poweroff') return { ok: false, message: `the guest ended with ${r.reason} (status ${r.status}), not a clean poweroff` };
  return { ok: true };
}

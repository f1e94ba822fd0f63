/** Running one step against a booted guest: pass, or fail with a one-line reason. */
import type { QemuVm } from '../qemu/vm.js';
import type { ConsoleWatch } from './console-watch.js';
import type { ControlChannel } from './control.js';
import { formatDuration } from './duration.js';
import type { ConsoleStep, ExecStep, HttpStep, PoweroffStep, Step } from './types.js';

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
    case 'poweroff':
      return poweroffStep(step, ctx);
  }
}

async function consoleStep(step: ConsoleStep, ctx: StepContext): Promise<StepOutcome> {
  const r = await ctx.console.wait(step.match, step.timeoutMs);
  if (r === 'matched') return { ok: true };
  if (r === 'ended') return { ok: false, message: `the guest stopped before a console line matched /${step.match.source}/` };
  return { ok: false, message: `no console line matched /${step.match.source}/ within ${formatDuration(step.timeoutMs)}` };
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
  const r = await control.exec(step.service, step.run, Math.max(1, deadline - Date.now()));
  if (!r) return { ok: false, message: `${short(step.run)} in ${step.service} did not finish within ${formatDuration(step.timeoutMs)}` };
  const out = r.output.trim();
  const lastLine = out.split('\n').at(-1) ?? '';
  if (r.status !== step.status) return { ok: false, message: `${short(step.run)} in ${step.service} exited ${r.status}, expected ${step.status}${out ? `: ${short(lastLine, 120)}` : ''}` };
  if (step.expect !== undefined && !r.output.includes(step.expect))
    return { ok: false, message: `the output of ${short(step.run)} in ${step.service} lacks ${short(step.expect)} (got ${short(out.replace(/\n/g, '\\n'), 120)})` };
  return { ok: true };
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

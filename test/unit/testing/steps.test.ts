/**
 * Step checks that need no guest: a command's output against expect/match
 * and status, `local` steps (a real /bin/sh on this machine, its folder,
 * the published ports in its environment, its timeout), and console steps
 * waiting for several lines in any order (a fake VM feeding console text).
 */
import { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QemuVm } from '../../../src/qemu/vm.js';
import { ConsoleWatch } from '../../../src/testing/console-watch.js';
import { parseTestFile } from '../../../src/testing/load.js';
import { checkOutput, localEnv, runStep, type StepContext } from '../../../src/testing/steps.js';
import type { Step } from '../../../src/testing/types.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-steps-'));
  await writeFile(join(dir, 'here.txt'), 'beside the test file\n');
});
afterAll(() => rm(dir, { recursive: true, force: true }));

class FakeVm extends EventEmitter {
  console = '';
  running = true;
  feed(text: string) {
    this.console += text;
    this.emit('console', text);
  }
  end() {
    this.running = false;
    this.emit('exit');
  }
}

const steps = (yaml: string): Step[] => parseTestFile(yaml, join(dir, 't.test.yml')).steps;

function context(vm = new FakeVm()): StepContext & { fake: FakeVm } {
  return {
    fake: vm,
    vm: vm as unknown as QemuVm,
    console: new ConsoleWatch(vm as unknown as QemuVm),
    published: new Map([[22, { host: '127.0.0.1', port: 40222 }]]),
    control: () => Promise.resolve(undefined),
  };
}

describe('output checks', () => {
  const check = (yaml: string, status: number, output: string) => {
    const [s] = steps(`- exec: {service: getty, run: x, ${yaml}}`);
    return checkOutput(s as Extract<Step, { kind: 'exec' }>, status, output, '"x" in getty');
  };

  it('every substring and every pattern must be there, and the status right', () => {
    expect(check('expect: [a, b], match: ["^7 /bin$", "^count (\\\\d+)\\\\ndep \\\\1$"]', 0, 'a\n7 /bin\nb\ncount 3\ndep 3\n')).toEqual({ ok: true });
    expect(check('match: "^count (\\\\d+)\\\\ndep \\\\1$"', 0, 'count 3\ndep 4\n')).toEqual({
      ok: false,
      message: 'the output of "x" in getty does not match /^count (\\d+)\\ndep \\1$/ (got "count 3\\\\ndep 4")',
    });
    expect(check('expect: [a, c]', 0, 'a b')).toEqual({ ok: false, message: 'the output of "x" in getty lacks "c" (got "a b")' });
    expect(check('status: 1, expect: Read-only', 2, 'sh: can\'t create /etc/passwd: Read-only file system\n')).toEqual({
      ok: false,
      message: '"x" in getty exited 2, expected 1: "sh: can\'t create /etc/passwd: Read-only file system"',
    });
  });
});

describe('local steps', () => {
  it('run sh in the test file\'s folder with the published ports in the environment', async () => {
    const ctx = context();
    const [s] = steps('- local: {run: "cat here.txt; echo port=$CORACLE_PORT_22 addr=$CORACLE_ADDR_22", expect: beside the test file, match: "^port=40222 addr=127\\\\.0\\\\.0\\\\.1$"}');
    expect(await runStep(s!, ctx)).toEqual({ ok: true });
    expect(localEnv(ctx.published)).toEqual({ CORACLE_PORT_22: '40222', CORACLE_ADDR_22: '127.0.0.1' });
  });

  it('fail on a wrong status, and at their timeout (the command killed)', async () => {
    const ctx = context();
    const [bad, slow] = steps('- local: {run: "echo no >&2; exit 3"}\n- local: {run: "sleep 30", timeout: 500ms}');
    expect(await runStep(bad!, ctx)).toEqual({ ok: false, message: '"echo no >&2; exit 3" exited 3, expected 0: "no"' });
    const t0 = Date.now();
    expect(await runStep(slow!, ctx)).toEqual({ ok: false, message: '"sleep 30" did not finish within 500 ms' });
    expect(Date.now() - t0).toBeLessThan(5000);
  });
});

describe('console steps with several patterns', () => {
  it('pass once all have appeared, in any order, and the next step starts after the furthest', async () => {
    const ctx = context();
    const [both, next] = steps('- console: ["service web stopped", "service getty stopped"]\n- console: "shutdown complete"');
    const waiting = runStep(both!, ctx);
    ctx.fake.feed('coracle: service web stopped\n');
    await new Promise((r) => setTimeout(r, 20));
    ctx.fake.feed('coracle: service getty stopped\ncoracle: shutdown complete\n');
    expect(await waiting).toEqual({ ok: true });
    expect(ctx.console.cursor).toBe('coracle: service web stopped\ncoracle: service getty stopped'.length);
    expect(await runStep(next!, ctx)).toEqual({ ok: true });
  });

  it('name the patterns that never appeared', async () => {
    const ctx = context();
    const [s] = steps('- console: {match: [started, "service ntpd started", "service web started"], timeout: 200ms}');
    ctx.fake.feed('coracle: service getty started\n');
    expect(await runStep(s!, ctx)).toEqual({ ok: false, message: 'no console lines matched /service ntpd started/, /service web started/ within 200 ms' });
    const [e] = steps('- console: [gone]');
    const waiting = runStep(e!, ctx);
    ctx.fake.end();
    expect(await waiting).toEqual({ ok: false, message: 'the guest stopped before a console line matched /gone/' });
  });
});

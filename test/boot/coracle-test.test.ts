/**
 * `coracle test` against real boots: examples/web.yml built once with
 * `coracle build --json`, then booted from its output folder with
 * examples/web.test.yml (console, http through --publish, exec through the
 * control channel, poweroff); a failing exec step and an expiring console
 * timeout (one line naming the step's FILE:LINE:COL, the console tail, the
 * VM killed, exit 1). Bad test files never boot (test/unit/testing).
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../../src/testing/types.js';
import { projectRoot, runCli } from '../helpers/cli.js';
import { cleanupBoot } from '../helpers/qemu.js';
import { ensureSystemImages, specImageNames, systemStore } from '../helpers/system.js';

const WEB = join(projectRoot, 'examples', 'web.yml');

let dir: string;
let out: string;

const test = (...args: string[]) => runCli(['--cache', systemStore(), 'test', out, ...args], { timeout: 15 * 60_000 });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-test-'));
  out = join(dir, 'out');
  await ensureSystemImages(await specImageNames(WEB));
  const r = await runCli(['--cache', systemStore(), 'build', WEB, '-o', out, '--json'], { timeout: 20 * 60_000 });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  const doc = JSON.parse(r.stdout) as { outputs: { path: string }[] };
  expect(doc.outputs.map((o) => o.path)).toContain(join(out, 'web-initrd.img'));
});

afterAll(() => cleanupBoot(undefined, dir));

describe('coracle test', () => {
  it('passes examples/web.test.yml booted from a build folder: console, http, exec, poweroff', async () => {
    const junit = join(dir, 'web.xml');
    const r = await test(join(projectRoot, 'examples', 'web.test.yml'), '--junit', junit);
    expect(r.exitCode, r.stderr.slice(-3000)).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(12);
    expect(lines.every((l) => /^ok {3}\d+\/12 /.test(l)), r.stdout).toBe(true);
    expect(lines[1]).toMatch(/^ok {3}2\/12 http :80\/ -> 200 \(\d+\.\d s\)$/);
    expect(r.stderr).toMatch(/12 passed, 0 failed, 0 skipped \(guest poweroff/);
    expect(await readFile(junit, 'utf8')).toMatch(/tests="12" failures="0" errors="0" skipped="0"/);
  });

  it('a failing step is one line with FILE:LINE:COL, the later steps are skipped, the console tail is shown, the VM killed, exit 1', async () => {
    const file = join(dir, 'fail.test.yml');
    await writeFile(
      file,
      ['steps:', '  - console: "coracle: all services started"', '  - exec: {service: web, run: "cat /www/index.html", expect: "Goodbye"}', '  - poweroff: {within: 60s}', ''].join('\n'),
    );
    const r = await test(file, '--json');
    expect(r.exitCode).toBe(1);
    const report = JSON.parse(r.stdout) as TestReport;
    expect(report.passed).toBe(false);
    expect(report.steps.map((s) => s.status)).toEqual(['pass', 'fail', 'skip']);
    expect(report.guest?.reason).toBe('killed');
    expect(report.consoleTail!.length).toBeGreaterThan(10);
    expect(report.consoleTail!.length).toBeLessThanOrEqual(50);
    expect(r.stderr).toMatch(
      new RegExp(`^FAIL 2/3 ${file.replace(/[.]/g, '\\.')}:3:5: step 2 \\(exec\\): the output of "cat /www/index.html" in web lacks "Goodbye" \\(got ".*Hello from a Coracle host`, 'm'),
    );
    expect(r.stderr).toMatch(/^skip 3\/3 poweroff within 60 s$/m);
    expect(r.stderr).toMatch(/--- last \d+ console lines ---\n/);
  });

  it('a console timeout that expires fails its step, names it, and ends the VM at once', async () => {
    const file = join(dir, 'timeout.test.yml');
    await writeFile(file, 'steps:\n  - console: {match: "this line never appears", timeout: 5s}\n  - poweroff:\n');
    const t0 = Date.now();
    const r = await test(file);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^FAIL 1/2 ${file.replace(/[.]/g, '\\.')}:2:5: step 1 \\(console\\): no console line matched /this line never appears/ within 5\\.0 s`, 'm'));
    expect(r.stderr).toMatch(/0 passed, 1 failed, 1 skipped \(guest killed/);
    expect(Date.now() - t0).toBeLessThan(90_000);
  });
});

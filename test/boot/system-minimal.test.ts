/**
 * examples/minimal.yml exactly as a user builds and boots it, checked by
 * `coracle test` with examples/minimal.test.yml (the file the README shows):
 * DHCP on boot (runc), getty under containerd, the console shell's container
 * is root in a mount namespace of its own, the root is a mount of its own
 * over the initramfs (runc can pivot away from it), clean poweroff.
 */
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestReport } from '../../src/testing/types.js';
import { projectRoot, runCli, type CliResult } from '../helpers/cli.js';
import { cleanupBoot } from '../helpers/qemu.js';
import { ensureSystemImages, specImageNames, systemStore } from '../helpers/system.js';

const MINIMAL = join(projectRoot, 'examples', 'minimal.yml');

let dir: string;
let r: CliResult;
let report: TestReport;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-boot-minimal-'));
  await ensureSystemImages(await specImageNames(MINIMAL));
  r = await runCli(['--cache', systemStore(), 'test', 'examples/minimal.yml', '--json', '--junit', join(dir, 'junit.xml'), '--log', join(dir, 'console.log')], {
    timeout: 20 * 60_000,
  });
  report = JSON.parse(r.stdout) as TestReport;
});

afterAll(() => cleanupBoot(undefined, dir));

describe('examples/minimal.yml under coracle test', () => {
  it('passes every step of examples/minimal.test.yml and exits 0', () => {
    const failed = report.steps.filter((s) => s.status !== 'pass');
    expect(failed, r.stderr.slice(-4000)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(report.steps.map((s) => s.kind)).toEqual([...Array(4).fill('console'), ...Array(4).fill('exec'), 'poweroff', 'console', 'console']);
    expect(report.guest).toEqual({ reason: 'poweroff', status: 0 });
  });

  it('prints one line per step (on stderr with --json) and a summary', () => {
    const lines = r.stderr.split('\n').filter((l) => /^(ok  |FAIL|skip) \d+\/\d+ /.test(l));
    expect(lines).toHaveLength(report.steps.length);
    expect(lines[4]).toMatch(/^ok {3}5\/11 exec getty: ip -4 addr show eth0 \(\d+\.\d s\)$/);
    expect(r.stderr).toMatch(/coracle: test examples\/minimal\.test\.yml: 11 passed, 0 failed, 0 skipped \(guest poweroff/);
  });

  it('writes the JUnit report and the whole console log', async () => {
    const xml = await readFile(join(dir, 'junit.xml'), 'utf8');
    expect(xml).toContain('<testsuite name="examples/minimal.test.yml" tests="11" failures="0" errors="0" skipped="0"');
    expect(xml.match(/<testcase /g)).toHaveLength(11);
    const log = await readFile(join(dir, 'console.log'), 'utf8');
    expect(log).toContain('coracle: agent listening on /dev/vport');
    expect(log).toContain('coracle: shutdown complete');
  });
});

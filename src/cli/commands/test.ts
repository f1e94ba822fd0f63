import type { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { CoracleError } from '../../errors.js';
import { parseAccel, parseDisk, parseMem, parsePublish } from '../../qemu/options.js';
import type { StepResult, TestReport } from '../../testing/types.js';
import { storeRootFrom } from '../options.js';
import { accessOptions, registryAccess, type AccessFlags } from './registry.js';

interface TestCliOptions extends AccessFlags {
  publish: string[];
  disk: string[];
  userData?: string;
  mem?: string;
  accel: string;
  dir?: string;
  junit?: string;
  json?: boolean;
  log?: string;
  qemu?: string;
  pkgBuild: boolean;
  check?: boolean;
}

const collect = (v: string, prev: string[]) => [...prev, v];
const isSpec = (p: string) => ['.yml', '.yaml'].includes(extname(p));

/** `x.yml` -> `x.test.yml` beside it. */
function defaultTestFile(spec: string): string {
  return join(dirname(spec), `${basename(spec, extname(spec))}.test.yml`);
}

function stepLine(s: StepResult, total: number): string {
  const n = `${s.index}/${total}`;
  const t = s.status === 'skip' ? '' : ` (${(s.durationMs / 1000).toFixed(1)} s)`;
  if (s.status === 'fail') return `FAIL ${n} ${s.file}:${s.line}:${s.col}: step ${s.index} (${s.kind}): ${s.message}${t}`;
  return `${s.status === 'pass' ? 'ok  ' : 'skip'} ${n} ${s.label}${t}`;
}

export function registerTestCommands(program: Command): void {
  accessOptions(
    program
      .command('test')
      .description('boot a system under QEMU and check the steps of a test file (console, http, exec, local, poweroff); exit 0 when all pass')
      .argument('<target>', 'system SPEC (.yml: built first), or a build output DIR / NAME prefix')
      .argument('[test-file]', 'steps to check (default: SPEC.test.yml beside the spec)')
      .option('--publish <[addr:]host:guest[/tcp|udp]>', 'forward a host port to the guest (repeatable), beside the test file\'s publish:', collect, [])
      .option('--disk <[file=]path[,size=][,format=]>', 'attach a virtio disk, created if missing (repeatable)', collect, [])
      .option('--user-data <file>', 'cloud-init user-data on a NoCloud seed ISO, validated first')
      .option('--mem <mib>', 'guest memory (MiB, or with M/G; default the test file\'s mem: or 1024)')
      .option('--accel <auto|kvm|tcg>', 'accelerator: auto uses KVM only if a probe boot works and the guest reaches its init within 30 s (else TCG)', 'auto')
      .option('-o, --dir <dir>', 'build output folder when given a spec (default: a temporary one, removed after)')
      .option('--no-pkg-build', 'refuse to build a missing @pkg: image definition')
      .option('--check', 'only check the test file (and the spec\'s services and published ports); build and boot nothing')
      .option('--junit <file>', 'write a JUnit XML report')
      .option('--json', 'print the report as JSON on stdout (step lines go to stderr)')
      .option('--log <file>', 'also write the whole guest console to this file')
      .option('--qemu <binary>', 'QEMU binary', 'qemu-system-x86_64'),
    true,
  ).action(async (target: string, testArg: string | undefined, o: TestCliOptions, cmd: Command) => {
    const [{ loadTestFile }, { runTest, resolvePublish, checkSteps }, { junitXml }, { resolveImage }, { createReporter }, { writeWhole }] = await Promise.all([
      import('../../testing/load.js'),
      import('../../testing/run.js'),
      import('../../testing/junit.js'),
      import('../../qemu/image.js'),
      import('../../progress/reporter.js'),
      import('../../files/write-whole.js'),
    ]);
    const reporter = createReporter();
    const spec = isSpec(target) ? target : undefined;
    const testPath = testArg ?? (spec ? defaultTestFile(spec) : undefined);
    if (!testPath) throw new CoracleError(`test ${target}: give the test file (coracle test DIR TEST.yml)`);
    // the test file is checked before anything is built or booted
    const test = await loadTestFile(testPath);
    const publish = await resolvePublish(test, o.publish.map(parsePublish));
    // ports and service names too: a spec is read (not built) for its services
    const services = spec ? (await (await import('../../spec/load.js')).loadSpecs([spec])).spec.services.map((s) => s.name) : undefined;
    checkSteps(test, publish, services);
    if (o.check) {
      process.stderr.write(`coracle: ${testPath}: ${test.steps.length} steps, ok\n`);
      return;
    }
    const disks = [...test.disks.map((d) => ({ d, base: dirname(resolve(testPath)) })), ...o.disk.map((d) => ({ d, base: process.cwd() }))].map(({ d, base }) => {
      const s = parseDisk(d);
      return { ...s, path: resolve(base, s.path) };
    });
    const userData = o.userData ?? (test.userData ? resolve(dirname(testPath), test.userData) : undefined);
    const accel = parseAccel(o.accel);
    const mem = o.mem !== undefined ? parseMem(o.mem) : undefined;
    const storeRoot = storeRootFrom(cmd);
    let tmp: string | undefined;
    const controller = new AbortController();
    // Ctrl-C, or a CI job's timeout (SIGTERM): the VM is killed, never left behind
    const onSigint = () => {
      process.stderr.write('\ncoracle: interrupted: stopping the guest\n');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    let report: TestReport;
    try {
      let boot;
      if (spec) {
        const [{ build }, { openStore }] = await Promise.all([import('../../build/assemble.js'), import('../../oci/store/layout-store.js')]);
        const outDir = o.dir ?? (tmp = await mkdtemp(join(tmpdir(), 'coracle-test-')));
        const r = await build({
          specFiles: [spec],
          store: await openStore(storeRoot),
          outDir,
          reporter,
          ...(await registryAccess(o)),
          ...(o.pkgBuild === false ? { noPkgBuild: true } : {}),
        });
        boot = await resolveImage(join(outDir, r.name));
      } else boot = await resolveImage(target);
      const stateDir = tmp ? join(tmp, 'state') : join(boot.dir, `${boot.name}-state`);
      const lines = o.json ? process.stderr : process.stdout;
      const total = test.steps.length;
      report = await runTest({
        test,
        boot,
        target,
        publish,
        disks,
        ...(userData ? { userDataFile: userData } : {}),
        ...(mem !== undefined ? { mem } : {}),
        accel,
        ...(services ? { services } : {}),
        stateDir,
        ...(o.log ? { logFile: o.log } : {}),
        kvmCacheFile: join(storeRoot, 'kvm-probe.json'),
        qemu: o.qemu,
        reporter,
        signal: controller.signal,
        onStep: (s) => lines.write(`${stepLine(s, total)}\n`),
      });
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }
    if (o.junit) await writeWhole(o.junit, junitXml(report));
    if (o.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    const count = (s: string) => report.steps.filter((r) => r.status === s).length;
    if (!report.passed && report.consoleTail) {
      process.stderr.write(`--- last ${report.consoleTail.length} console lines ---\n${report.consoleTail.join('\n')}\n---\n`);
    }
    process.stderr.write(
      `coracle: test ${testPath}: ${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped (guest ${report.guest?.reason ?? 'gone'}, ${(report.durationMs / 1000).toFixed(1)} s)\n`,
    );
    process.exitCode = report.passed ? 0 : 1;
  });
}

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiagnosticsError, formatDiagnostic } from '../../../src/errors.js';
import { loadSpecs } from '../../../src/spec/load.js';
import { parseDuration } from '../../../src/testing/duration.js';
import { loadTestFile, parseTestFile } from '../../../src/testing/load.js';
import { checkSteps, resolvePublish } from '../../../src/testing/run.js';
import { projectRoot } from '../../helpers/cli.js';

function errorsOf(text: string, check?: (t: ReturnType<typeof parseTestFile>) => void): string[] {
  try {
    const t = parseTestFile(text, 't.test.yml');
    check?.(t);
  } catch (e) {
    if (e instanceof DiagnosticsError) return e.diagnostics.map(formatDiagnostic);
    throw e;
  }
  return [];
}

describe('test files', () => {
  it('reads every step kind with defaults, short forms and where each was written', () => {
    const t = parseTestFile(
      [
        'publish: [80, "8080:81"]',
        'timeout: 90s',
        'steps:',
        '  - console: "all services started$"',
        '  - http: {port: 80}',
        '  - exec: {service: getty, run: "id -u", expect: "0"}',
        '  - console: {match: "x", timeout: 2m}',
        '  - poweroff:',
      ].join('\n'),
      't.test.yml',
    );
    expect(t.publish).toEqual(['80', '8080:81']);
    expect(t.steps.map((s) => [s.kind, s.index, s.at.line, s.at.col])).toEqual([
      ['console', 1, 4, 5],
      ['http', 2, 5, 5],
      ['exec', 3, 6, 5],
      ['console', 4, 7, 5],
      ['poweroff', 5, 8, 5],
    ]);
    const [c, h, x, c2, p] = t.steps;
    expect(c).toMatchObject({ kind: 'console', timeoutMs: 90_000 });
    expect(c!.kind === 'console' && c.match[0]!.test('x\nall services started\r'.replace('\r', ''))).toBe(true);
    expect(h).toMatchObject({ port: 80, path: '/', status: 200, timeoutMs: 90_000 });
    expect(x).toMatchObject({ service: 'getty', run: 'id -u', expect: ['0'], match: [], status: 0 });
    expect(c2).toMatchObject({ timeoutMs: 120_000 });
    expect(p).toMatchObject({ kind: 'poweroff', withinMs: 120_000 });
  });

  it('console, exec and local take lists: every line or pattern must be there', () => {
    const t = parseTestFile(
      [
        'steps:',
        '  - console: ["service getty started", "service web started"]',
        '  - console: {match: [a, b], timeout: 5s}',
        '  - exec: {service: getty, run: stat x, expect: [one, 2], match: ["^7 x$", \'\\d+\'], status: 1}',
        '  - local: {run: "ssh -p $CORACLE_PORT_22 root@127.0.0.1 true", match: "^ok", timeout: 3m}',
      ].join('\n'),
      't.test.yml',
    );
    const [c, c2, x, l] = t.steps;
    expect(c!.kind === 'console' && c.match.map((r) => r.source)).toEqual(['service getty started', 'service web started']);
    expect(c!.label).toBe('console /service getty started/ /service web started/');
    expect(c2).toMatchObject({ timeoutMs: 5000 });
    expect(x).toMatchObject({ kind: 'exec', expect: ['one', '2'], status: 1 });
    expect(x!.kind === 'exec' && x.match.map((r) => [r.source, r.multiline])).toEqual([['^7 x$', true], ['\\d+', true]]);
    expect(l).toMatchObject({ kind: 'local', run: 'ssh -p $CORACLE_PORT_22 root@127.0.0.1 true', expect: [], timeoutMs: 180_000 });
    expect(l!.label).toBe('local: ssh -p $CORACLE_PORT_22 root@127.0.0.1 true');
    expect(l!.kind === 'local' && l.match[0]!.test('x\nok\n')).toBe(true);
  });

  it('a bad pattern or item in a list is an error at that item', () => {
    expect(
      errorsOf(
        [
          'steps:',
          '  - console: [ok, "(", "[x"]',
          '  - exec: {service: getty, run: x, match: ["a", "*"], expect: [x, {y: 1}]}',
          '  - local: {run: x, match: "+", service: getty}',
          '  - local: {match: []}',
        ].join('\n'),
      ),
    ).toEqual([
      't.test.yml:2:19: step 1 (console): not a regular expression: /(/m: Unterminated group',
      't.test.yml:2:24: step 1 (console): not a regular expression: /[x/m: Unterminated character class',
      't.test.yml:3:67: step 2 (exec): expect: expected a string, got a mapping',
      't.test.yml:3:49: step 2 (exec): not a regular expression: /*/m: Nothing to repeat',
      't.test.yml:4:33: step 3 (local): unknown field "service"; local takes run, expect, match, status, timeout',
      't.test.yml:4:28: step 3 (local): not a regular expression: /+/m: Nothing to repeat',
      't.test.yml:5:12: step 4 (local): "run" is required',
      't.test.yml:5:20: step 4 (local): match: expected a string or a non-empty list of strings, got an empty list',
    ]);
  });

  it('exec with host: true runs on the host: no service, and none is looked up in the spec', () => {
    const t = parseTestFile('steps:\n  - exec: {host: true, run: "cat /proc/mounts", match: " /var/lib/docker ext4 "}\n', 't.test.yml');
    expect(t.steps[0]).toMatchObject({ kind: 'exec', run: 'cat /proc/mounts', label: 'exec host: cat /proc/mounts' });
    expect(t.steps[0]).not.toHaveProperty('service');
    expect(() => checkSteps(t, [], ['getty'])).not.toThrow();
    expect(errorsOf('steps:\n  - exec: {host: true, service: getty, run: x}\n  - exec: {host: yes please, run: x}\n  - exec: {host: false, run: x}\n')).toEqual([
      't.test.yml:2:33: step 1 (exec): "service" and "host: true" exclude each other: a command runs in a container or on the host',
      't.test.yml:3:18: step 2 (exec): host: expected true or false, got the string "yes please"',
      't.test.yml:3:11: step 2 (exec): "service" is required',
      't.test.yml:4:11: step 3 (exec): "service" is required',
    ]);
  });

  it('a plain list of steps is a test file too', () => {
    expect(parseTestFile('- console: x\n- poweroff: 30s\n', 'f').steps.map((s) => s.kind)).toEqual(['console', 'poweroff']);
  });

  it('an unknown step is one error at its key, with a suggestion', () => {
    expect(errorsOf('steps:\n  - console: x\n  - htp: {port: 80}\n')).toEqual([
      't.test.yml:3:5: step 2: unknown step "htp" (did you mean "http"?); steps are console, http, exec, local, poweroff',
    ]);
  });

  it('reports every bad field at once, each at its position', () => {
    expect(
      errorsOf('steps:\n  - console: {match: "(", timeout: soon}\n  - exec: {service: getty, expct: x}\n  - http: {port: 99999, path: x}\n'),
    ).toEqual([
      't.test.yml:2:22: step 1 (console): not a regular expression: /(/m: Unterminated group',
      't.test.yml:2:36: step 1 (console): timeout: expected a duration such as 90s, 2m or 500ms, got the string "soon"',
      't.test.yml:3:28: step 2 (exec): unknown field "expct" (did you mean "expect"?); exec takes service, host, run, expect, match, status, timeout',
      't.test.yml:3:11: step 2 (exec): "run" is required',
      't.test.yml:4:18: step 3 (http): port: expected a whole number 1-65535, got the number 99999',
      't.test.yml:4:31: step 3 (http): path: must start with "/", got "x"',
    ]);
  });

  it('refuses an empty list, unknown top-level keys and YAML errors with positions', () => {
    expect(errorsOf('steps: []\n')).toEqual(['t.test.yml:1:1: "steps" must be a non-empty list of steps (console, http, exec, local, poweroff)']);
    expect(errorsOf('step:\n  - console: x\n')[0]).toBe('t.test.yml:1:1: unknown key "step" (did you mean "steps"?); a test file has steps, publish, disks, user-data, mem, timeout');
    expect(errorsOf('steps:\n  - console: "x\n')[0]).toMatch(/^t\.test\.yml:2:\d+: YAML: /);
  });

  it('an http port that is not published and an exec service the spec lacks are errors before booting', async () => {
    const t = parseTestFile('publish: ["8080:80"]\nsteps:\n  - http: {port: 80}\n  - http: {port: 443}\n  - exec: {service: gety, run: "true"}\n', 't.test.yml');
    const publish = await resolvePublish(t, []);
    expect(publish).toEqual([{ hostPort: 8080, guestPort: 80, protocol: 'tcp' }]);
    let err: unknown;
    try {
      checkSteps(t, publish, ['getty', 'web']);
    } catch (e) {
      err = e;
    }
    expect((err as DiagnosticsError).diagnostics.map(formatDiagnostic)).toEqual([
      't.test.yml:4:18: step 2 (http): guest port 443 is not published (add --publish HOST:443, or "publish: [443]" to the test file)',
      't.test.yml:5:21: step 3 (exec): the spec has no service "gety" (getty, web)',
    ]);
  });

  it('a bare guest port gets a free loopback port', async () => {
    const [p] = await resolvePublish(parseTestFile('publish: [80]\nsteps: [{console: x}]\n', 'f'), []);
    expect(p).toMatchObject({ hostAddress: '127.0.0.1', guestPort: 80, protocol: 'tcp' });
    expect(p!.hostPort).toBeGreaterThan(0);
  });

  it('durations', () => {
    expect([parseDuration('90s'), parseDuration('2m'), parseDuration('500ms'), parseDuration(1.5), parseDuration('1.5s')]).toEqual([90_000, 120_000, 500, 1500, 1500]);
    expect([parseDuration('soon'), parseDuration('-1s'), parseDuration(true)]).toEqual([undefined, undefined, undefined]);
  });

  it('every example spec has a test file that checks against it', async () => {
    const dir = join(projectRoot, 'examples');
    const specs = (await readdir(dir)).filter((f) => f.endsWith('.yml') && !f.includes('.test.') && !f.includes('user-data'));
    expect(specs.length).toBeGreaterThanOrEqual(4);
    for (const s of specs) {
      const test = await loadTestFile(join(dir, s.replace(/\.yml$/, '.test.yml')));
      const { spec } = await loadSpecs([join(dir, s)]);
      checkSteps(test, await resolvePublish(test, []), spec.services.map((x) => x.name));
      expect(test.steps.at(-1)!.kind === 'poweroff' || test.steps.some((x) => x.kind === 'poweroff'), s).toBe(true);
    }
  });
});

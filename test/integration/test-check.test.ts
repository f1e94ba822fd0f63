/**
 * `coracle test --check` as CI runs it, before anything is built or booted:
 * every test file the project boots checks against its spec (services,
 * published ports), and a bad one is one FILE:LINE:COL line per problem,
 * exit 1, no stack trace.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-test-check-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('coracle test --check', () => {
  it.each([
    ['examples/web.yml', 'test/fixtures/boot/web.test.yml', 16],
    ['examples/web.yml', 'test/fixtures/boot/web-lean.test.yml', 5],
    ['examples/sshd.yml', 'test/fixtures/boot/sshd-login.test.yml', 2],
    ['examples/docker.yml', 'test/fixtures/boot/docker-disk-1.test.yml', 7],
    ['examples/docker.yml', 'test/fixtures/boot/docker-disk-2.test.yml', 5],
    ['examples/cloud-init.yml', 'examples/cloud-init.test.yml', 5],
  ])('%s %s', async (spec, file, n) => {
    const r = await runCli(['test', spec, file, '--check']);
    expect(r.stderr).toBe(`coracle: ${file}: ${n} steps, ok`);
    expect(r.exitCode).toBe(0);
  });

  it('a bad pattern in a list and an unknown field of local are one line each at their position, exit 1', async () => {
    const file = join(dir, 'bad.test.yml');
    await writeFile(file, ['steps:', '  - console: [ok, "(x"]', '  - local: {run: "true", service: getty}', '  - exec: {service: gety, run: "true", match: ["a", "+"]}', ''].join('\n'));
    const r = await runCli(['test', 'examples/web.yml', file, '--check']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `coracle: ${file}:2:19: step 1 (console): not a regular expression: /(x/m: Unterminated group`,
      `${file}:3:26: step 2 (local): unknown field "service"; local takes run, expect, match, status, timeout`,
      `${file}:4:53: step 3 (exec): not a regular expression: /+/m: Nothing to repeat`,
    ]);
  });
});

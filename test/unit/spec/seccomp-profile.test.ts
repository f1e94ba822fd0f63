import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiagnosticsError, formatDiagnostic } from '../../../src/errors.js';
import { allocateIds, generateRuntimeConfig } from '../../../src/runtime/index.js';
import { loadSpecs } from '../../../src/spec/index.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-seccomp-'));
  await mkdir(join(dir, 'profiles'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

async function errorsOf(spec: string): Promise<string[]> {
  try {
    await loadSpecs([spec]);
  } catch (e) {
    if (e instanceof DiagnosticsError) return e.diagnostics.map(formatDiagnostic);
    throw e;
  }
  return [];
}

const entry = (seccomp: string) => `services:
  - name: web
    image: example/web:1
    seccomp: ${seccomp}
`;

describe('seccomp: FILE.json', () => {
  it('reads the profile beside the spec and the container config carries it', async () => {
    const profile = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 1,
      architectures: ['SCMP_ARCH_X86_64'],
      syscalls: [
        { names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' },
        { names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] },
      ],
    };
    await write('profiles/web.json', JSON.stringify(profile, null, 2));
    const spec = await write('web.yml', entry('profiles/web.json'));
    const { spec: s } = await loadSpecs([spec]);
    const web = s.services[0]!;
    expect(web.seccompProfile).toEqual(profile);
    const gen = generateRuntimeConfig({ entry: { ...web, command: ['/bin/web'] }, bundleDir: '/containers/services/web', ids: allocateIds(s) });
    expect(gen.config.linux!.seccomp).toEqual(profile);
    expect(gen.config.process!.noNewPrivileges).toBe(true);
  });

  it('a missing file is an error at the seccomp key of the spec', async () => {
    const spec = await write('missing.yml', entry('profiles/nope.json'));
    expect(await errorsOf(spec)).toEqual([`${spec}:4:14: services[0].seccomp: cannot read seccomp profile ${join(dir, 'profiles/nope.json')}: no such file`]);
  });

  it('a bad profile is an error at its own line and column', async () => {
    const bad = await write(
      'profiles/bad.json',
      ['{', '  "defaultAction": "SCMP_ACT_DENY",', '  "syscalls": [', '    {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}', '  ]', '}', ''].join('\n'),
    );
    const spec = await write('bad.yml', entry('profiles/bad.json'));
    const errors = await errorsOf(spec);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:20: defaultAction: expected one of .*"SCMP_ACT_ALLOW".*, got the string "SCMP_ACT_DENY"$`));
    expect(errors[1]).toBe(`${bad}:4:72: syscalls[0].args[0].index: must be at most 5, got the number 9`);
    const broken = await write('profiles/broken.json', '{"defaultAction": ');
    const spec2 = await write('broken.yml', entry('profiles/broken.json'));
    expect((await errorsOf(spec2))[0]).toMatch(new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:\\d+: `));
    const empty = await write('profiles/empty.json', '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]}');
    const spec4 = await write('empty.yml', entry('profiles/empty.json'));
    expect(await errorsOf(spec4)).toEqual([`${empty}:1:60: syscalls[0].names: list at least one system call name`]);
    // unknown keys are refused too (a Docker profile's archMap is not OCI)
    await write('profiles/docker.json', '{"defaultAction": "SCMP_ACT_ERRNO", "archMap": []}');
    const spec3 = await write('docker.yml', entry('profiles/docker.json'));
    expect(await errorsOf(spec3)).toEqual([`${join(dir, 'profiles/docker.json')}:1:37: unknown key "archMap"`]);
  });
});

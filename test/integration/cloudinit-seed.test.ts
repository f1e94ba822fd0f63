import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiagnosticsError } from '../../src/errors.js';
import { makeSeed } from '../../src/cloudinit/index.js';

const userData = '#cloud-config\nhostname: seeded\nruncmd:\n  - [touch, /run/ok]\n';
const metaData = 'instance-id: iid-fixed-1\nlocal-hostname: seeded\n';
const networkConfig = 'version: 2\nethernets:\n  eth0:\n    dhcp4: true\n';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'coracle-seed-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ISO9660 seed', () => {
  it('has volume id cidata, Joliet and Rock Ridge, and the three files', async () => {
    const out = join(dir, 'seed.iso');
    const r = await makeSeed({ userData, metaData, networkConfig, format: 'iso' }, out);
    expect(r).toMatchObject({ path: out, format: 'iso', instanceId: 'iid-fixed-1', instanceIdGenerated: false });
    const find = await execa('xorriso', ['-indev', out, '-find', '/', '-type', 'f']);
    expect(find.stdout.split('\n').map((l) => l.replace(/'/g, '')).sort()).toEqual(['/meta-data', '/network-config', '/user-data']);
    const info = await execa('isoinfo', ['-d', '-i', out]);
    expect(info.stdout).toMatch(/^Volume id: cidata$/m);
    expect(info.stdout).toMatch(/Joliet/);
    expect(info.stdout).toMatch(/Rock Ridge signatures/);
    // Read the files back through Rock Ridge and through Joliet.
    expect((await execa('isoinfo', ['-i', out, '-R', '-x', '/user-data'])).stdout).toBe(userData.trimEnd());
    expect((await execa('isoinfo', ['-i', out, '-J', '-x', '/network-config'])).stdout).toBe(networkConfig.trimEnd());
    expect((await execa('isoinfo', ['-i', out, '-R', '-x', '/meta-data'])).stdout).toBe(metaData.trimEnd());
    // Nothing left beside the output.
    expect((await readdir(dir)).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  it('is reproducible: same inputs, same bytes, at another time', async () => {
    const a = join(dir, 'a.iso');
    const b = join(dir, 'b.iso');
    await makeSeed({ userData, metaData, format: 'iso' }, a);
    await sleep(2100);
    await makeSeed({ userData, metaData, format: 'iso' }, b);
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
    const c = join(dir, 'c.iso');
    await makeSeed({ userData: `${userData}final_message: x\n`, metaData, format: 'iso' }, c);
    expect((await readFile(a)).equals(await readFile(c))).toBe(false);
  });
});

describe('FAT seed', () => {
  it('is labelled CIDATA and readable with mtools', async () => {
    const out = join(dir, 'seed.img');
    await makeSeed({ userData, metaData, networkConfig, format: 'vfat' }, out);
    const mdir = await execa('mdir', ['-i', out, '::/'], { env: { MTOOLS_SKIP_CHECK: '1' } });
    expect(mdir.stdout).toMatch(/Volume in drive : is CIDATA/);
    for (const f of ['user-data', 'meta-data', 'network-config']) expect(mdir.stdout).toContain(f);
    const typed = await execa('mtype', ['-i', out, '::/user-data'], { env: { MTOOLS_SKIP_CHECK: '1' } });
    expect(typed.stdout).toBe(userData.trimEnd());
    const blkid = await execa('file', ['-b', out], { reject: false });
    if (blkid.exitCode === 0) expect(blkid.stdout).toMatch(/FAT/);
  });

  it('is reproducible across time and time zones', async () => {
    const a = join(dir, 'a.img');
    const b = join(dir, 'b.img');
    await makeSeed({ userData, metaData, format: 'vfat' }, a);
    await sleep(2100);
    const tz = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata';
    try {
      await makeSeed({ userData, metaData, format: 'vfat' }, b);
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });
});

describe('instance-id', () => {
  it('is generated when meta-data has none, keeping the other keys', async () => {
    const out = join(dir, 'gen.iso');
    const r = await makeSeed({ userData, metaData: 'local-hostname: h1\n', format: 'iso' }, out);
    expect(r.instanceId).toMatch(/^iid-[0-9a-f]{16}$/);
    expect(r.instanceIdGenerated).toBe(true);
    const md = (await execa('isoinfo', ['-i', out, '-R', '-x', '/meta-data'])).stdout;
    expect(md).toContain('local-hostname: h1');
    expect(md).toContain(`instance-id: ${r.instanceId}`);
    const again = await makeSeed({ userData, format: 'iso' }, join(dir, 'gen2.iso'));
    expect(again.instanceId).not.toBe(r.instanceId);
  });

  it('is stable across runs for one state folder, and differs between folders', async () => {
    const state = join(dir, 'state-a');
    const one = await makeSeed({ userData, format: 'iso', stateDir: state }, join(dir, 's1.iso'));
    const two = await makeSeed({ userData, format: 'vfat', stateDir: state }, join(dir, 's2.img'));
    expect(two.instanceId).toBe(one.instanceId);
    expect((await readFile(join(state, 'cloud-init-instance-id'), 'utf8')).trim()).toBe(one.instanceId);
    const other = await makeSeed({ userData, format: 'iso', stateDir: join(dir, 'state-b') }, join(dir, 's3.iso'));
    expect(other.instanceId).not.toBe(one.instanceId);
    // Same state, same inputs: same bytes.
    const again = await makeSeed({ userData, format: 'iso', stateDir: state }, join(dir, 's4.iso'));
    expect(again.instanceId).toBe(one.instanceId);
    expect((await readFile(join(dir, 's1.iso'))).equals(await readFile(join(dir, 's4.iso')))).toBe(true);
  });

  it('gives concurrent runs on one state folder the same id', async () => {
    const state = join(dir, 'state-race');
    const ids = await Promise.all([0, 1, 2, 3].map(async (i) => (await makeSeed({ userData, format: 'iso', stateDir: state }, join(dir, `race-${i}.iso`))).instanceId));
    expect(new Set(ids).size).toBe(1);
    expect((await readdir(state)).sort()).toEqual(['cloud-init-instance-id']);
  });

  it('rejects meta-data that is not a mapping, naming the file', async () => {
    await expect(makeSeed({ userData, metaData: '- a\n', format: 'iso', metaDataName: 'md.yaml' }, join(dir, 'bad-md.iso'))).rejects.toThrow(/^md\.yaml:1:1: meta-data must be a YAML mapping/);
    await expect(makeSeed({ userData, metaData: 'a: [\n', format: 'iso', metaDataName: 'md.yaml' }, join(dir, 'bad-md.iso'))).rejects.toThrow(/^md\.yaml:\d+:\d+: invalid YAML/);
  });
});

describe('network-config', () => {
  it('must be YAML with version 1 or 2', async () => {
    await expect(makeSeed({ userData, networkConfig: 'ethernets: {}\n', format: 'iso', networkConfigName: 'net.yaml' }, join(dir, 'n.iso'))).rejects.toThrow(/^net\.yaml:1:1: network-config must be a mapping with "version: 1"/);
    await expect(makeSeed({ userData, networkConfig: 'version: [\n', format: 'iso' }, join(dir, 'n.iso'))).rejects.toThrow(/^network-config:\d+:\d+: invalid YAML/);
    const ok = await makeSeed({ userData, metaData, networkConfig: 'network:\n  version: 1\n  config: []\n', format: 'iso' }, join(dir, 'n.iso'));
    expect(ok.path).toBe(join(dir, 'n.iso'));
  });
});

describe('invalid user-data', () => {
  it('writes nothing and reports every error', async () => {
    const out = join(dir, 'never.iso');
    await writeFile(join(dir, 'marker'), '');
    const err = await makeSeed({ userData: '#cloud-config\nhostnmae: x\nusers: 5\n', format: 'iso', userDataName: 'ud.yaml' }, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiagnosticsError);
    expect((err as DiagnosticsError).message.split('\n')).toEqual([
      'ud.yaml:2:1: hostnmae: unknown key: cloud-init has no such config key (did you mean "hostname"?)',
      'ud.yaml:3:8: users: expected a string, a list or a mapping, got an integer 5',
    ]);
    expect((await readdir(dir)).some((f) => f.includes('never'))).toBe(false);
  });

  it('can be written anyway for testing how hosts cope', async () => {
    const out = join(dir, 'bad.iso');
    const r = await makeSeed({ userData: '#cloud-config\nusers: [\n', format: 'iso', onInvalid: 'ignore', metaData }, out);
    expect(r.userData.ok).toBe(false);
    expect((await execa('isoinfo', ['-i', out, '-R', '-x', '/user-data'])).stdout).toBe('#cloud-config\nusers: [');
  });
});

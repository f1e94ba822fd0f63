// A blob download whose connection is lost part-way resumes with a Range
// request (`Range: bytes=N-`) through the CLI, against the fault server:
// the retry asks for the rest, a 206 with a matching Content-Range is
// appended, and the digest is still checked over the whole blob (a bad
// byte before the cut is caught). A registry that ignores Range (200) or
// answers with another range is downloaded again from the start. A
// persistent fault ends in one line, with nothing half-stored.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { startFaultServer, oneLineError, type FaultServer, type FaultServerOptions, type RecordedRequest } from '../helpers/fault-server.js';
import { corruptBlobsIn, listFiles, makeImageLayout, readLayout, type BuiltImage, type TempLayout } from '../helpers/images.js';
import { skopeoCopy, startRegistry } from '../helpers/registry.js';
import { RegistryClient } from '../../src/oci/registry/client.js';
import { anonymous } from '../../src/oci/registry/credentials.js';
import { readFile } from 'node:fs/promises';

const tmp: string[] = [];
const newDir = async (p = 'coracle-cache-'): Promise<string> => {
  const d = await mkdtemp(join(tmpdir(), p));
  tmp.push(d);
  return d;
};
let env: Record<string, string>;
let img: TempLayout<BuiltImage>;
let fs: FaultServer | undefined;
/** Where the first answer is cut: not a multiple of any buffer size. */
const CUT = 123_457;

beforeAll(async () => {
  img = await makeImageLayout({ layers: [1_000_000, { files: { 'etc/x': 'x\n' } }] }, 'v1');
  const d = await newDir('coracle-home-');
  env = { DOCKER_CONFIG: d, XDG_CONFIG_HOME: d, CORACLE_REGISTRY_IDLE_TIMEOUT: '1' };
});
afterEach(async () => {
  await fs?.stop();
  fs = undefined;
});
afterAll(async () => {
  await img?.cleanup();
  for (const d of tmp) await rm(d, { recursive: true, force: true });
});

const layer = (): string => img.built.layerDigests[0]!;
const layerSize = (): number => img.built.manifest.layers[0]!.size;
const layerGets = (): RecordedRequest[] => fs!.requests.filter((q) => q.method === 'GET' && q.path.endsWith(`/blobs/${layer()}`));
/** Each GET of the layer as `STATUS [cut ACTION@N] [RANGE]`. */
const answers = (): string[] => layerGets().map((q) => [q.status, q.cut ? `cut ${q.cut.action}@${q.cut.after}` : '', q.range ?? ''].filter((x) => x !== '').join(' '));

async function pull(opts: FaultServerOptions): Promise<{ cache: string; ref: string; exitCode: number | null; stderr: string; took: number }> {
  fs = await startFaultServer({ repos: { 'faults/resume': img.dir }, ...opts });
  const cache = await newDir();
  const ref = `${fs.host}/faults/resume:v1`;
  const t0 = Date.now();
  const r = await runCli(['--cache', cache, 'pull', ref], { env, timeout: 120_000 });
  expect(r.stderr).not.toMatch(/^\s+at /m);
  return { cache, ref, exitCode: r.exitCode, stderr: r.stderr, took: Date.now() - t0 };
}

/** Every blob in the store hashes to its name and nothing else lies around (temporary files included). */
async function expectWholeOrNothing(cache: string): Promise<void> {
  expect(await corruptBlobsIn(cache).catch(() => [])).toEqual([]);
  const files = await listFiles(cache).catch(() => [] as string[]);
  expect(files.filter((f) => !(f === 'oci-layout' || f === 'index.json' || /^blobs\/sha256\/[0-9a-f]{64}$/.test(f) || f.endsWith('.lock')))).toEqual([]);
}

async function expectPulled(cache: string, ref: string): Promise<void> {
  const view = await readLayout(cache);
  expect(view.find(ref)?.digest).toBe(img.built.manifestDigest);
  expect(view.blobs.has(layer())).toBe(true);
  await expectWholeOrNothing(cache);
}

const match = (): RegExp => new RegExp(`^GET /v2/faults/resume/blobs/${layer()}$`);

describe('an interrupted blob download resumes with a Range request', () => {
  for (const action of ['reset', 'truncate', 'stall'] as const) {
    it(`a body cut (${action}) after ${CUT} bytes: the retry asks for bytes=${CUT}- and the store ends with the right blob`, async () => {
      const r = await pull({ failures: [{ match: match(), times: 1, action, cutAfter: CUT }] });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(answers()).toEqual([`200 cut ${action}@${CUT}`, `206 bytes=${CUT}-`]);
      expect(r.stderr).toContain(`connection lost after ${CUT} of ${layerSize()} bytes`);
      await expectPulled(r.cache, r.ref);
    });
  }

  it('a body cut three times: each retry asks for the rest from where the last one stopped', async () => {
    const r = await pull({ failures: [{ match: match(), times: 3, action: 'reset', cutAfter: CUT }] });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(answers()).toEqual([`200 cut reset@${CUT}`, `206 cut reset@${CUT} bytes=${CUT}-`, `206 cut reset@${CUT} bytes=${2 * CUT}-`, `206 bytes=${3 * CUT}-`]);
    await expectPulled(r.cache, r.ref);
  });

  it('a registry that ignores Range (200): downloaded again from the start, the blob right', async () => {
    const r = await pull({ failures: [{ match: match(), times: 1, action: 'reset', cutAfter: CUT }], ranges: 'ignore' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(answers()).toEqual([`200 cut reset@${CUT}`, `200 bytes=${CUT}-`]);
    expect(r.stderr).toContain('answered 200 to a Range request; downloading it again from the start');
    await expectPulled(r.cache, r.ref);
  });

  it('a 206 for other bytes than asked: asked again without Range, the blob right', async () => {
    const r = await pull({ failures: [{ match: match(), times: 1, action: 'reset', cutAfter: CUT }], ranges: 'wrong' });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(answers()).toEqual([`200 cut reset@${CUT}`, `206 bytes=${CUT}-`, '200']);
    expect(r.stderr).toContain(`206 from byte 0, asked from ${CUT}`);
    await expectPulled(r.cache, r.ref);
  });

  it('a bad byte before the cut is caught: the digest is checked over the whole resumed blob, nothing stored', async () => {
    const r = await pull({ failures: [{ match: match(), times: 1, action: 'reset', cutAfter: CUT, corruptCut: true }] });
    expect(r.exitCode).not.toBe(0);
    // the rest really was resumed (and was right): only the first part was bad
    expect(answers()).toEqual([`200 cut reset@${CUT}`, `206 bytes=${CUT}-`]);
    const line = oneLineError(r.stderr);
    expect(line).toContain(layer());
    expect(line).toMatch(/digest mismatch/);
    const view = await readLayout(r.cache).catch(() => undefined);
    expect(view?.blobs.has(layer()) ?? false).toBe(false);
    expect(view?.find(r.ref)).toBeUndefined();
    await expectWholeOrNothing(r.cache);
  });

  it('a body cut every time: one line naming the blob and the attempts, bounded, nothing half-stored', async () => {
    const r = await pull({ failures: [{ match: match(), times: Infinity, action: 'reset', cutAfter: CUT }] });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(layer());
    expect(line).toContain(fs!.host);
    expect(line).toMatch(/download failed after 6 attempts/);
    // each attempt resumed where the last stopped, and the blob was never complete
    const ranges = layerGets().map((q) => q.range ?? '');
    expect(ranges).toEqual(['', ...[1, 2, 3, 4, 5].map((k) => `bytes=${k * CUT}-`)]);
    expect(r.took).toBeLessThan(60_000);
    const view = await readLayout(r.cache).catch(() => undefined);
    expect(view?.blobs.has(layer()) ?? false).toBe(false);
    await expectWholeOrNothing(r.cache);
  });

  it('a body that stalls before its first byte every time: given up after 3 attempts without progress', async () => {
    const r = await pull({ failures: [{ match: match(), times: Infinity, action: 'stall', cutAfter: 0 }] });
    expect(r.exitCode).not.toBe(0);
    const line = oneLineError(r.stderr);
    expect(line).toContain(layer());
    expect(line).toMatch(/download failed after 3 attempts: .*stopped sending/);
    expect(layerGets().map((q) => q.range ?? '')).toEqual(['', '', '']);
    await expectWholeOrNothing(r.cache);
  });
});

describe('Range against the real registry (Debian docker-registry)', () => {
  it('answers bytes=N- with a 206 the client takes as the rest of the blob', async () => {
    const reg = await startRegistry({ auth: 'none' });
    try {
      await skopeoCopy(`oci:${img.dir}:v1`, `docker://${reg.host}/resume/app:v1`);
      const client = new RegistryClient({ registry: reg.host, credentials: anonymous });
      const whole = await readFile(join(img.dir, 'blobs', 'sha256', layer().slice(7)));
      const r = await client.fetchBlob('resume/app', { digest: layer(), size: layerSize() }, { offset: CUT });
      const parts: Buffer[] = [];
      for await (const c of r.stream) parts.push(c as Buffer);
      expect(r.from).toBe(CUT);
      expect(r.restart).toBeUndefined();
      expect(Buffer.concat(parts).equals(whole.subarray(CUT))).toBe(true);
      expect(reg.accessLog().filter((e) => e.method === 'GET' && e.path.endsWith(layer())).map((e) => e.status)).toEqual([206]);
    } finally {
      await reg.stop();
    }
  });
});

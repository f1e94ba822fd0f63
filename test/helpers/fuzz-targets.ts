/**
 * Property-based fuzz targets (fast-check) for the parsers that read what
 * other people wrote: the spec loader, the cloud-init user-data parser
 * (MIME, gzip, YAML 1.1), the tar reader, initrd (newc cpio) entry paths,
 * and the registry client's response handling. The property of each: any
 * input ends in a result or a CoracleError (a clear, located message) —
 * never another exception. Shared by test/security/fuzz.test.ts (short, seed
 * fixed, in CI) and bench/fuzz.ts (>= 100,000 cases per target).
 */
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseUserData } from '../../src/cloudinit/userdata.js';
import { CoracleError } from '../../src/errors.js';
import { normalizeEntryPath } from '../../src/initrd/newc.js';
import { parseWwwAuthenticate } from '../../src/oci/registry/challenge.js';
import { RegistryClient } from '../../src/oci/registry/client.js';
import { anonymous } from '../../src/oci/registry/credentials.js';
import { describeErrorBody } from '../../src/oci/registry/errors.js';
import { parseRetryAfter } from '../../src/oci/registry/transport.js';
import { parseSpecs } from '../../src/spec/load.js';
import { readTar, TarWriter } from '../../src/tar/index.js';
import { projectRoot } from './cli.js';

export interface FuzzTarget {
  name: string;
  /** The property: resolves when the input was handled acceptably, throws otherwise. */
  property: fc.IAsyncPropertyWithHooks<[unknown]> | fc.IAsyncProperty<[unknown]>;
}

/** Rethrow anything that is not a CoracleError: that is the bug the fuzzer looks for. */
function onlyCoracleErrors(e: unknown): void {
  if (e instanceof CoracleError) return;
  throw e;
}

/** Splice random pieces into a text: YAML/MIME specials, long runs, control bytes. */
function mutated(base: string): fc.Arbitrary<string> {
  const piece = fc.oneof(
    fc.constantFrom('&a ', '*a', '[', ']', '{', '}', ':', '- ', '\n', '\n  ', '\t', '"', "'", '#', '!!binary ', '!!python/object ', '<<: *a', '%YAML 1.1\n', '---\n', '...\n', '\0', '\uFEFF', '\\', '0o777', '0x', '~', 'null', '@pkg:../', '../', '/', '=?utf-8?', 'boundary="', '\r\n'),
    fc.string({ maxLength: 12 }),
    fc.string({ unit: 'binary', maxLength: 8 }),
  );
  return fc
    .array(fc.tuple(fc.nat({ max: Math.max(0, base.length) }), fc.nat({ max: 8 }), piece), { maxLength: 6 })
    .map((edits) => {
      let s = base;
      for (const [at, del, p] of edits) {
        const i = Math.min(at, s.length);
        s = s.slice(0, i) + p + s.slice(i + del);
      }
      return s;
    });
}

const example = (name: string): string => readFileSync(join(projectRoot, 'examples', name), 'utf8');

const specTexts = (): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
    { weight: 4, arbitrary: fc.constantFrom(example('minimal.yml'), example('web.yml'), example('sshd.yml')).chain(mutated) },
  );

const cloudConfig = `#cloud-config
hostname: fuzz
users:
  - name: ada
    ssh_authorized_keys: [ssh-ed25519 AAAA ada]
write_files:
  - path: /etc/x
    content: !!binary aGVsbG8=
    permissions: '0644'
runcmd:
  - [echo, hi]
  - echo there
`;
const mime = (parts: string[]) =>
  `Content-Type: multipart/mixed; boundary="BB"\nMIME-Version: 1.0\n\n${parts.map((p) => `--BB\nContent-Type: text/cloud-config\nContent-Transfer-Encoding: base64\n\n${Buffer.from(p).toString('base64')}\n`).join('')}--BB--\n`;

const userData = (): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 400 }).map((u) => Buffer.from(u)),
    mutated(cloudConfig).map((s) => Buffer.from(s)),
    mutated(mime([cloudConfig, '#!/bin/sh\necho hi\n'])).map((s) => Buffer.from(s, 'latin1')),
    mutated(cloudConfig).map((s) => gzipSync(s)),
    // a gzip stream cut or flipped part-way
    fc.tuple(mutated(cloudConfig), fc.nat(), fc.nat({ max: 255 })).map(([s, at, v]) => {
      const g = gzipSync(s);
      const b = Buffer.from(g.subarray(0, Math.max(2, at % (g.length + 1))));
      if (b.length > 2) b[2 + (at % (b.length - 2))] ^= v;
      return b;
    }),
  );

/** A small valid tar (the project's writer), to mutate. */
async function sampleTar(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const { PassThrough } = await import('node:stream');
  const out = new PassThrough();
  out.on('data', (c: Buffer) => chunks.push(c));
  const w = new TarWriter(out);
  await w.addDirectory({ path: 'etc', mode: 0o755, mtime: 0 });
  await w.addFile({ path: 'etc/hosts', mode: 0o644, mtime: 0 }, Buffer.from('127.0.0.1 localhost\n'));
  await w.addFile({ path: `${'long/'.repeat(30)}name`, mode: 0o644, mtime: 0 }, Buffer.from('x'.repeat(700)));
  await w.addSymlink({ path: 'bin/sh', linkpath: 'busybox', mtime: 0 });
  await w.finish();
  return Buffer.concat(chunks);
}

let tarBase: Buffer | undefined;

const tarBytes = (): fc.Arbitrary<Buffer> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 3000 }).map((u) => Buffer.from(u)),
    fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
      const b = Buffer.from(tarBase!);
      for (const [at, v] of flips) b[at % b.length] = v;
      return b;
    }),
    fc.nat().map((cut) => tarBase!.subarray(0, cut % (tarBase!.length + 1))),
    // header fields rewritten with digits, spaces, NULs and base-256 markers
    fc.tuple(fc.nat({ max: 511 }), fc.string({ unit: fc.constantFrom('0', '7', '9', ' ', '\0', '\x80', '\xff', 'x'), minLength: 1, maxLength: 12 })).map(([at, s]) => {
      const b = Buffer.from(tarBase!);
      b.write(s, at, 'latin1');
      return b;
    }),
  );

async function readAll(b: Buffer): Promise<void> {
  // (in uneven chunks: headers and bodies straddle reads)
  const chunks = (async function* () {
    for (let i = 0; i < b.length; i += 333) yield b.subarray(i, i + 333);
  })();
  for await (const e of readTar(chunks, { name: 'fuzz.tar' })) {
    for await (const _ of e.body) void _;
  }
}

function fakeRegistry(): fc.Arbitrary<{ status: number; headers: Record<string, string>; body: string }> {
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'a'.repeat(64)}`, size: 2 }, layers: [] });
  return fc.record({
    status: fc.constantFrom(200, 200, 200, 201, 204, 301, 307, 400, 401, 403, 404, 429, 500, 503, 999, 0),
    headers: fc.record(
      {
        'content-type': fc.oneof(fc.constantFrom('application/vnd.oci.image.index.v1+json', 'application/json', 'text/html'), fc.string({ maxLength: 30 })),
        'docker-content-digest': fc.oneof(fc.constant(`sha256:${'b'.repeat(64)}`), fc.string({ maxLength: 80 })),
        'www-authenticate': fc.oneof(fc.constantFrom('Bearer realm="http://127.0.0.1:1/token",service="r",scope="repository:x:pull"', 'Basic realm="x"', 'Bearer'), fc.string({ maxLength: 80 })),
        'retry-after': fc.oneof(fc.constantFrom('0', 'Wed, 21 Oct 2015 07:28:00 GMT'), fc.string({ maxLength: 20 })),
        location: fc.constantFrom('/v2/x', 'http://127.0.0.1:1/elsewhere', '::'),
      },
      { requiredKeys: [] },
    ),
    body: fc.oneof(mutated(manifest), mutated(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'm' }] })), fc.string({ maxLength: 200 }), fc.constant(JSON.stringify({ token: 't', expires_in: 1 }))),
  });
}

export async function fuzzTargets(): Promise<FuzzTarget[]> {
  tarBase ??= await sampleTar();
  return [
    {
      name: 'spec loader',
      property: fc.asyncProperty(specTexts(), async (text) => {
        try {
          parseSpecs([{ file: 'fuzz.yml', text: text as string }]);
        } catch (e) {
          onlyCoracleErrors(e);
        }
      }),
    },
    {
      name: 'user-data parser',
      property: fc.asyncProperty(userData(), async (b) => {
        try {
          const u = parseUserData(b as Buffer, { file: 'user-data' });
          // diagnostics are located: file:line:col
          for (const d of u.diagnostics) if (typeof d.line !== 'number' || typeof d.col !== 'number') throw new Error(`unlocated diagnostic: ${JSON.stringify(d)}`);
        } catch (e) {
          onlyCoracleErrors(e);
        }
      }),
    },
    {
      name: 'tar reader',
      property: fc.asyncProperty(tarBytes(), async (b) => {
        try {
          await readAll(b as Buffer);
        } catch (e) {
          onlyCoracleErrors(e);
        }
      }),
    },
    {
      name: 'cpio (newc) entry paths',
      property: fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.constantFrom('..', '.', '', 'a', '/', 'b/', './', '\0', 'x'.repeat(300)), { maxLength: 8 }).map((a) => a.join('/'))),
        async (p) => {
          let clean: string;
          try {
            clean = normalizeEntryPath(p as string);
          } catch (e) {
            onlyCoracleErrors(e);
            return;
          }
          // what the writer accepts can never climb out of the initramfs root
          const parts = clean.split('/');
          if (clean.startsWith('/') || parts.some((c) => c === '' || c === '.' || c === '..') || clean.includes('\0')) throw new Error(`unclean path accepted: ${JSON.stringify(clean)}`);
        },
      ),
    },
    {
      name: 'registry responses',
      property: fc.asyncProperty(fc.tuple(fakeRegistry(), fakeRegistry(), fc.string({ maxLength: 100 })), async (input) => {
        const [first, second, header] = input as [{ status: number; headers: Record<string, string>; body: string }, { status: number; headers: Record<string, string>; body: string }, string];
        parseWwwAuthenticate(header);
        parseRetryAfter(header);
        describeErrorBody(header);
        let n = 0;
        const client = new RegistryClient({
          registry: 'fuzz.invalid',
          endpoint: 'http://127.0.0.1:1',
          retry: { retries: 1, baseDelayMs: 0, maxDelayMs: 0, maxRetryAfterMs: 0 },
          credentials: anonymous,
          fetch: async () => {
            const r = n++ === 0 ? first : second;
            const status = r.status >= 200 && r.status <= 599 ? r.status : 502;
            return new Response([101, 204, 205, 304].includes(status) ? null : r.body, { status, headers: r.headers });
          },
        });
        try {
          await client.getManifest('fuzz/repo', 'tag');
        } catch (e) {
          onlyCoracleErrors(e);
        }
      }),
    },
  ];
}

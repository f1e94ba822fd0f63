import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { mergeCloudConfigs } from '../../../src/cloudinit/merge.js';
import { parseMime } from '../../../src/cloudinit/mime.js';
import { parseUserData, type ScriptPart } from '../../../src/cloudinit/userdata.js';
import { parseYaml11 } from '../../../src/cloudinit/yaml.js';

const errorsOf = (r: ReturnType<typeof parseUserData>) => r.diagnostics.filter((d) => d.severity === 'error');

/** A MIME multipart message with CRLF or LF line ends. */
function multipart(parts: { headers: string[]; body: string }[], boundary = '==BOUNDARY==', eol = '\n'): string {
  const lines = [`Content-Type: multipart/mixed; boundary="${boundary}"`, 'MIME-Version: 1.0', ''];
  for (const p of parts) lines.push(`--${boundary}`, ...p.headers, '', p.body.replace(/\n$/, ''));
  lines.push(`--${boundary}--`, '');
  return lines.join(eol);
}

describe('YAML 1.1 as cloud-init reads it', () => {
  it('reads octal, yes/no/on/off, sexagesimal and underscores the PyYAML way', () => {
    const p = parseYaml11('a: 0644\nb: yes\nc: off\nd: On\ne: 1_000\nf: 1:30\ng: "0644"\nh: 0o644\ni: ~\nj: 0x1F\n');
    expect(p.errors).toEqual([]);
    expect(p.value).toEqual({ a: 420, b: true, c: false, d: true, e: 1000, f: 90, g: '0644', h: '0o644', i: null, j: 31 });
  });

  it('resolves scalars as PyYAML does, not as other YAML 1.1 readers', () => {
    const p = parseYaml11('y: n\nY: N\nnine: 09\nexp: 1e3\nexps: 1.0e+3\ndot: .5\nzt: 0:30\nst: 1:30.5\ninf: -.inf\nbin: 0b101\nnan: .NaN\nt: True\n');
    expect(p.value).toMatchObject({ y: 'n', Y: 'N', nine: '09', exp: '1e3', exps: 1000, dot: 0.5, zt: '0:30', st: 90.5, inf: -Infinity, bin: 5, t: true });
    expect(Number.isNaN((p.value as { nan: number }).nan)).toBe(true);
  });

  it('refuses a plain "=" as PyYAML does (YAML 1.1 value type)', () => {
    const p = parseYaml11('a: =\nb: "="\n');
    expect(p.errors).toHaveLength(1);
    expect(p.errors[0]).toMatchObject({ pos: { line: 1, col: 4 } });
    expect(parseYaml11('b: "="\n').value).toEqual({ b: '=' });
  });

  it('reads unquoted dates as timestamps and !!binary as bytes', () => {
    const p = parseYaml11('d: 2030-01-31\nb: !!binary aGk=\n');
    expect(p.value).toMatchObject({ d: new Date(Date.UTC(2030, 0, 31)) });
    expect(Buffer.from((p.value as { b: Uint8Array }).b).toString()).toBe('hi');
  });

  it('allows duplicate keys, keeps the last value and warns at the repeat', () => {
    const text = '#cloud-config\nhostname: one\nruncmd: [a]\nhostname: two\n';
    const r = parseUserData(text, { file: 'ud' });
    expect(r.ok).toBe(true);
    expect(r.cloudConfig.hostname).toBe('two');
    const dup = r.diagnostics.filter((d) => d.code === 'duplicate-key');
    expect(dup).toHaveLength(1);
    expect(dup[0]).toMatchObject({ severity: 'warning', path: 'hostname', line: 4, col: 1 });
    expect(dup[0]!.detail).toContain('line 2');
  });

  it('finds duplicates in nested mappings', () => {
    const r = parseUserData('#cloud-config\nusers:\n  - name: a\n    shell: /bin/sh\n    shell: /bin/bash\n', { file: 'ud' });
    expect(r.diagnostics.filter((d) => d.code === 'duplicate-key').map((d) => [d.path, d.line, d.col])).toEqual([['users[0].shell', 5, 5]]);
    expect(r.cloudConfig.users).toEqual([{ name: 'a', shell: '/bin/bash' }]);
  });

  it('follows merge keys and aliases when placing diagnostics', () => {
    const text = '#cloud-config\nx-base: &base\n  lock_passwd: "no"\nusers:\n  - <<: *base\n    name: a\n';
    const r = parseUserData(text, { file: 'ud' });
    const lock = errorsOf(r).find((d) => d.path === 'users[0].lock_passwd');
    expect(lock).toMatchObject({ line: 3, col: 16 });
    expect(errorsOf(r).find((d) => d.path === 'x-base')).toMatchObject({ code: 'unknown-key', line: 2, col: 1 });
  });

  it('reports YAML syntax errors with their position', () => {
    const r = parseUserData('#cloud-config\nusers: [a, b\nhostname: x\n', { file: 'ud' });
    expect(r.ok).toBe(false);
    expect(errorsOf(r)[0]).toMatchObject({ code: 'yaml-syntax', file: 'ud' });
    expect(errorsOf(r)[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it('treats an empty #cloud-config as an empty config', () => {
    const r = parseUserData('#cloud-config\n# nothing yet\n', { file: 'ud' });
    expect(r.ok).toBe(true);
    expect(r.parts).toHaveLength(1);
    expect(r.cloudConfig).toEqual({});
  });
});

describe('single-part user-data', () => {
  it('takes a #! payload as a per-instance script', () => {
    const r = parseUserData('#!/bin/sh\necho hello\n', { file: 'ud' });
    expect(r.ok).toBe(true);
    expect(r.parts).toEqual([{ kind: 'script', source: 'ud', filename: 'part-001', frequency: 'per-instance', content: Buffer.from('#!/bin/sh\necho hello\n') }]);
  });

  it('matches the first-line marker case-insensitively after blanks, longest first', () => {
    expect(parseUserData('\n  #Cloud-Config\nhostname: a\n', { file: 'ud' }).cloudConfig).toEqual({ hostname: 'a' });
    const archive = parseUserData('#cloud-config-archive\n- type: text/cloud-config\n  content: "hostname: b"\n', { file: 'ud' });
    expect(archive.ok).toBe(true);
    expect(archive.cloudConfig).toEqual({ hostname: 'b' });
  });

  it('decompresses gzip user-data (magic 1f 8b)', () => {
    const gz = gzipSync(Buffer.from('#cloud-config\nhostname: zipped\nbogus: 1\n'));
    expect(gz[0]).toBe(0x1f);
    const r = parseUserData(gz, { file: 'ud' });
    expect(r.cloudConfig.hostname).toBe('zipped');
    expect(errorsOf(r).map((d) => [d.file, d.path, d.line])).toEqual([['ud(gunzipped)', 'bogus', 3]]);
  });

  it('reports corrupt gzip data', () => {
    const r = parseUserData(Buffer.from([0x1f, 0x8b, 1, 2, 3]), { file: 'ud' });
    expect(errorsOf(r)[0]!.detail).toMatch(/does not decompress/);
  });

  it.each([
    ['#include http://example.com/ud\n', /#include .*not supported/],
    ['#include-once http://example.com/ud\n', /#include-once .*not supported/],
    ['## template: jinja\n#cloud-config\nhostname: {{ v1.local_hostname }}\n', /Jinja templates .*not supported/],
    ['#cloud-boothook\n#!/bin/sh\necho\n', /#cloud-boothook parts are not supported/],
    ['#part-handler\ndef list_types(): pass\n', /#part-handler parts are not supported/],
    ['#cloud-config-jsonp\n[]\n', /jsonp.*not supported/],
  ])('rejects %j with a clear "not supported" error', (text, re) => {
    const r = parseUserData(text, { file: 'ud' });
    expect(r.ok).toBe(false);
    expect(errorsOf(r)).toHaveLength(1);
    expect(errorsOf(r)[0]).toMatchObject({ code: 'not-supported', file: 'ud', line: 1, col: 1 });
    expect(errorsOf(r)[0]!.detail).toMatch(re);
  });

  it('rejects a payload with no recognised first line', () => {
    const r = parseUserData('hostname: a\n', { file: 'ud' });
    expect(errorsOf(r)[0]!.detail).toMatch(/start it with "#cloud-config"/);
  });

  it('accepts empty user-data as nothing to do', () => {
    const r = parseUserData('', { file: 'ud' });
    expect(r.ok).toBe(true);
    expect(r.parts).toEqual([]);
  });
});

describe('MIME multipart user-data', () => {
  const cloudConfig = '#cloud-config\nhostname: mime-host\nusers:\n  - name: bob\n    lock_passwd: "no"\n';

  it('splits parts, detects script frequencies and names scripts after the part', () => {
    const msg = multipart([
      { headers: ['Content-Type: text/cloud-config; charset="us-ascii"', 'Content-Transfer-Encoding: 7bit', 'Content-Disposition: attachment; filename="cc.yaml"'], body: '#cloud-config\nhostname: a\n' },
      { headers: ['Content-Type: text/x-shellscript', 'Content-Disposition: attachment; filename="first.sh"'], body: '#!/bin/sh\necho 1\n' },
      { headers: ['Content-Type: text/x-shellscript-per-boot'], body: '#!/bin/sh\necho boot\n' },
      { headers: ['Content-Type: text/x-shellscript-per-instance'], body: '#!/bin/sh\necho inst\n' },
      { headers: ['Content-Type: text/x-shellscript-per-once', 'Content-Disposition: attachment; filename="../../etc/evil"'], body: '#!/bin/sh\necho once\n' },
      { headers: ['Content-Type: text/plain'], body: '#!/bin/sh\necho guessed\n' },
    ]);
    const r = parseUserData(msg, { file: 'ud' });
    expect(r.diagnostics).toEqual([]);
    const scripts = r.parts.filter((p): p is ScriptPart => p.kind === 'script');
    expect(scripts.map((s) => [s.filename, s.frequency, s.content.toString()])).toEqual([
      ['first.sh', 'per-instance', '#!/bin/sh\necho 1'],
      ['part-003', 'per-boot', '#!/bin/sh\necho boot'],
      ['part-004', 'per-instance', '#!/bin/sh\necho inst'],
      ['evil', 'per-once', '#!/bin/sh\necho once'],
      ['part-006', 'per-instance', '#!/bin/sh\necho guessed'],
    ]);
    expect(r.cloudConfig).toEqual({ hostname: 'a' });
  });

  it('places errors of plain parts at their line in the whole file', () => {
    const msg = multipart([{ headers: ['Content-Type: text/cloud-config'], body: cloudConfig }]);
    const line = msg.split('\n').findIndex((l) => l.includes('lock_passwd')) + 1;
    const r = parseUserData(msg, { file: 'ud.mime' });
    expect(errorsOf(r).map((d) => [d.file, d.path, d.line, d.col])).toEqual([['ud.mime', 'users[0].lock_passwd', line, 18]]);
  });

  it('handles CRLF line ends', () => {
    const msg = multipart([{ headers: ['Content-Type: text/cloud-config'], body: cloudConfig }], 'b', '\r\n');
    const r = parseUserData(msg, { file: 'ud' });
    expect(errorsOf(r).map((d) => [d.path, d.line])).toEqual([['users[0].lock_passwd', 11]]);
    expect(r.cloudConfig.hostname).toBe('mime-host');
  });

  it('decodes base64 parts and names the part in positions', () => {
    const msg = multipart([
      { headers: ['Content-Type: text/cloud-config', 'Content-Transfer-Encoding: base64', 'Content-Disposition: attachment; filename="b.yaml"'], body: Buffer.from(cloudConfig).toString('base64').replace(/(.{40})/g, '$1\n') },
      { headers: ['Content-Type: text/x-shellscript', 'Content-Transfer-Encoding: base64'], body: Buffer.from('#!/bin/sh\necho b64\n').toString('base64') },
    ]);
    const r = parseUserData(msg, { file: 'ud' });
    expect(errorsOf(r).map((d) => [d.file, d.path, d.line, d.col])).toEqual([['ud[part 1 b.yaml]', 'users[0].lock_passwd', 5, 18]]);
    expect((r.parts[1] as ScriptPart).content.toString()).toBe('#!/bin/sh\necho b64\n');
  });

  it('decodes gzip parts (application/x-gzip, base64) and quoted-printable parts', () => {
    const gz = gzipSync(Buffer.from('#cloud-config\nhostname: from-gzip\n')).toString('base64');
    const msg = multipart([
      { headers: ['Content-Type: application/x-gzip', 'Content-Transfer-Encoding: base64'], body: gz },
      { headers: ['Content-Type: text/cloud-config', 'Content-Transfer-Encoding: quoted-printable'], body: '#cloud-config\ntimezone: Europe/Paris=\n\nfinal_message: caf=C3=A9\n' },
    ]);
    const r = parseUserData(msg, { file: 'ud' });
    expect(r.diagnostics).toEqual([]);
    expect(r.cloudConfig).toEqual({ hostname: 'from-gzip', timezone: 'Europe/Paris', final_message: 'café' });
  });

  it('walks nested multipart messages', () => {
    const inner = ['Content-Type: multipart/alternative; boundary=inner', '', '--inner', 'Content-Type: text/x-shellscript-per-boot', '', '#!/bin/sh', 'echo nested', '--inner', 'Content-Type: text/cloud-config', '', '#cloud-config', 'ntp: {enabled: yes, servers: [a.example]}', 'nope: 1', '--inner--'].join('\n');
    const msg = multipart([
      { headers: ['Content-Type: text/cloud-config'], body: '#cloud-config\nhostname: outer\n' },
      { headers: inner.split('\n\n')[0]!.split('\n'), body: inner.slice(inner.indexOf('\n\n') + 2) },
    ]);
    const r = parseUserData(msg, { file: 'ud' });
    expect(r.parts.map((p) => p.kind)).toEqual(['cloud-config', 'script', 'cloud-config']);
    expect(r.cloudConfig).toEqual({ hostname: 'outer', ntp: { enabled: true, servers: ['a.example'] }, nope: 1 });
    const nopeLine = msg.split('\n').findIndex((l) => l === 'nope: 1') + 1;
    expect(errorsOf(r).map((d) => [d.path, d.line, d.col])).toEqual([['nope', nopeLine, 1]]);
  });

  it('rejects unsupported part types at their header line and ignores unknown ones with a warning', () => {
    const msg = multipart([
      { headers: ['Content-Type: text/x-include-url'], body: 'http://example.com/x\n' },
      { headers: ['Content-Type: text/cloud-boothook'], body: '#!/bin/sh\n' },
      { headers: ['Content-Type: text/part-handler'], body: '#part-handler\n' },
      { headers: ['Content-Type: text/jinja2'], body: '## template: jinja\n' },
      { headers: ['Content-Type: application/x-foo'], body: 'whatever\n' },
    ]);
    const lines = msg.split('\n');
    const r = parseUserData(msg, { file: 'ud' });
    expect(errorsOf(r).map((d) => [d.line, d.code])).toEqual([
      [lines.indexOf('Content-Type: text/x-include-url') + 1, 'not-supported'],
      [lines.indexOf('Content-Type: text/cloud-boothook') + 1, 'not-supported'],
      [lines.indexOf('Content-Type: text/part-handler') + 1, 'not-supported'],
      [lines.indexOf('Content-Type: text/jinja2') + 1, 'not-supported'],
    ]);
    const warn = r.diagnostics.filter((d) => d.severity === 'warning');
    expect(warn.map((d) => [d.code, d.line])).toEqual([['ignored-part', lines.indexOf('Content-Type: application/x-foo') + 1]]);
  });

  it('merges cloud-config parts: a later top-level key replaces the earlier one whole', () => {
    const msg = multipart([
      { headers: ['Content-Type: text/cloud-config'], body: '#cloud-config\nruncmd: [a, b]\nntp: {enabled: true, servers: [x]}\nhostname: first\n' },
      { headers: ['Content-Type: text/cloud-config'], body: '#cloud-config\nruncmd: [c]\nntp: {pools: [p]}\n' },
    ]);
    const r = parseUserData(msg, { file: 'ud' });
    expect(r.cloudConfig).toEqual({ runcmd: ['c'], ntp: { pools: ['p'] }, hostname: 'first' });
    expect(mergeCloudConfigs([{ a: 1, b: [1] }, { b: [2] }, {}])).toEqual({ a: 1, b: [2] });
  });

  it('reports a multipart type without boundary, and warns about a missing closing boundary', () => {
    const noBoundary = parseUserData('Content-Type: multipart/mixed\nMIME-Version: 1.0\n\nx\n', { file: 'ud' });
    expect(errorsOf(noBoundary)[0]!.detail).toMatch(/no boundary/);
    const unclosed = parseUserData('Content-Type: multipart/mixed; boundary=b\nMIME-Version: 1.0\n\n--b\nContent-Type: text/cloud-config\n\nhostname: a\n', { file: 'ud' });
    expect(unclosed.ok).toBe(true);
    expect(unclosed.cloudConfig).toEqual({ hostname: 'a' });
    expect(unclosed.diagnostics.map((d) => [d.severity, d.code])).toEqual([['warning', 'mime']]);
  });

  it('parses MIME headers: folding, case, quoted parameters', () => {
    const e = parseMime('content-TYPE: Text/Cloud-Config;\n  charset="utf-8"; name="a b.yaml"\nX-Other: 1\n\nbody\n');
    expect(e.contentType).toBe('text/cloud-config');
    expect(e.params).toEqual({ charset: 'utf-8', name: 'a b.yaml' });
    expect(e.body.toString()).toBe('body\n');
    expect(e.bodyLine).toBe(4);
  });
});

import { describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../../src/errors.js';
import { IMPLEMENTED_KEYS } from '../../../src/cloudinit/implemented.js';
import { SchemaEvaluator } from '../../../src/cloudinit/jsonschema.js';
import { cloudConfigSchema, knownTopLevelKeys } from '../../../src/cloudinit/schema/index.js';
import { formatPath, validateCloudConfig } from '../../../src/cloudinit/validate.js';

const v = (text: string) => validateCloudConfig(text, { file: 'user-data' });

describe('cloud-config validation', () => {
  it('warns, with the key path and position, about valid keys Coracle hosts do not implement', () => {
    const r = v('#cloud-config\nhostname: h\npackages: [vim]\napt:\n  preserve_sources_list: true\n');
    expect(r.ok).toBe(true);
    const w = r.diagnostics.filter((d) => d.code === 'not-implemented');
    expect(w.map((d) => [d.severity, d.path, d.line, d.col])).toEqual([
      ['warning', 'packages', 3, 1],
      ['warning', 'apt', 4, 1],
    ]);
    expect(w[0]!.detail).toMatch(/Coracle hosts do not implement it/);
    expect(formatDiagnostic(w[0]!)).toBe('user-data:3:1: warning: packages: valid cloud-init key, but Coracle hosts do not implement it; ignored');
  });

  it('warns about sub-keys of implemented modules that Coracle hosts ignore', () => {
    const r = v('#cloud-config\nusers:\n  - name: a\n    sudo: ALL=(ALL) NOPASSWD:ALL\n    shell: /bin/sh\nwrite_files:\n  - path: /x\n    source: {uri: "http://example.com/x"}\nntp:\n  servers: [a]\n  ntp_client: chrony\n');
    expect(r.ok).toBe(true);
    expect(r.diagnostics.filter((d) => d.code === 'not-implemented').map((d) => [d.path, d.line, d.col])).toEqual([
      ['users[0].sudo', 4, 5],
      ['write_files[0].source', 8, 5],
      ['ntp.ntp_client', 11, 3],
    ]);
  });

  it('implements only keys the schema knows, and their sub-keys exist in the schema', () => {
    const known = knownTopLevelKeys();
    const ev = new SchemaEvaluator(cloudConfigSchema);
    for (const [key, subs] of Object.entries(IMPLEMENTED_KEYS)) {
      expect(known.has(key), key).toBe(true);
      if (subs === '*') continue;
      const sample = key === 'users' || key === 'write_files' ? (sub: string) => ({ [key]: [{ name: 'n', path: '/p', [sub]: 0 }] }) : (sub: string) => ({ [key]: { mode: 'reboot', [sub]: 0 } });
      for (const sub of subs) {
        // An unknown sub-key gives an "unknown key" issue; a known one at most a type issue.
        const issues = ev.validate(sample(sub)).issues;
        expect(issues.some((i) => i.keyword === 'additionalProperties' && i.path.at(-1) === sub), `${key}.${sub}`).toBe(false);
      }
    }
  });

  it('warns about deprecated keys with the version and the advice', () => {
    const r = v('#cloud-config\nusers:\n  - name: a\n    lock-passwd: true\n');
    expect(r.ok).toBe(true);
    const dep = r.diagnostics.filter((d) => d.code === 'deprecated');
    expect(dep.map((d) => [d.path, d.line, d.col])).toEqual([['users[0].lock-passwd', 4, 5]]);
    expect(dep[0]!.detail).toBe('deprecated since cloud-init 22.3: Use "lock_passwd" instead.');
  });

  it('errors on unknown top-level keys with a suggestion', () => {
    const r = v('#cloud-config\nssh_authorised_keys: [k]\nwhatever: 1\n');
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.message)).toEqual([
      'ssh_authorised_keys: unknown key: cloud-init has no such config key (did you mean "ssh_authorized_keys"?)',
      'whatever: unknown key: cloud-init has no such config key',
    ]);
  });

  it('reports every error, not only the first', () => {
    const r = v('#cloud-config\nhostname: [a]\nruncmd: x\nusers:\n  - name: a\n    uid: [1]\n    system: 1\n');
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.path)).toEqual(['hostname', 'runcmd', 'users[0].uid', 'users[0].system']);
  });

  it('names the wrong key inside a oneOf form rather than the whole form', () => {
    const r = v('#cloud-config\nusers:\n  - name: a\n    groups: [wheel]\n    homedir: 7\n');
    expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.path, d.detail])).toEqual([['users[0].homedir', 'expected a string, got an integer 7']]);
  });

  it('rejects a document that is not a mapping', () => {
    expect(v('#cloud-config\njust text\n').diagnostics[0]).toMatchObject({ code: 'not-a-mapping', line: 2, col: 1, severity: 'error' });
  });

  it('offsets lines for documents inside a larger file', () => {
    const r = validateCloudConfig('#cloud-config\nbad: 1\n', { file: 'f', lineOffset: 10 });
    expect(r.diagnostics[0]).toMatchObject({ line: 12, col: 1 });
  });

  it('formats key paths', () => {
    expect(formatPath(['users', 0, 'lock_passwd'])).toBe('users[0].lock_passwd');
    expect(formatPath(['ca-certs', 'remove-defaults'])).toBe('ca-certs.remove-defaults');
    expect(formatPath(['yum_repos', 'my repo', 'baseurl'])).toBe('yum_repos["my repo"].baseurl');
    expect(formatPath([])).toBe('');
  });
});

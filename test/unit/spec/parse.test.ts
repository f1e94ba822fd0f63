import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiagnosticsError, formatDiagnostic } from '../../../src/errors.js';
import { locationIn, parseImageLabelConfig, parseSpec } from '../../../src/spec/index.js';
import { projectRoot } from '../../helpers/cli.js';

const EVERY = 'test/fixtures/specs/valid/every-key.yml';
const every = () => parseSpec(readFileSync(join(projectRoot, EVERY), 'utf8'), EVERY);

function errors(text: string, file = 'spec.yml'): string[] {
  try {
    parseSpec(text, file);
  } catch (e) {
    if (e instanceof DiagnosticsError) return e.diagnostics.map(formatDiagnostic);
    throw e;
  }
  return [];
}

describe('parseSpec: every key', () => {
  it('parses the kernel, init and sections with their locations', () => {
    const { spec, warnings } = every();
    expect(warnings).toEqual([]);
    expect(spec.kernel).toMatchObject({
      image: 'linuxkit/kernel:6.12.59',
      cmdline: 'console=ttyS0 quiet',
      binary: 'bzImage',
      tar: 'none',
      ucode: 'intel-ucode.cpio',
      loc: { file: EVERY, line: 3, col: 3 },
    });
    expect(spec.kernel?.fieldLocs?.ucode).toEqual({ file: EVERY, line: 7, col: 3 });
    expect(spec.init).toEqual([
      'linuxkit/init:b5506cc74a6812dc40982cacfd2f4328f8a4b12a',
      'linuxkit/runc:9442aa234715e751a16144f1d4ae3fd1a00fd492',
    ]);
    expect(spec.initLocs).toEqual([
      { file: EVERY, line: 9, col: 5 },
      { file: EVERY, line: 10, col: 5 },
    ]);
    expect(spec.onboot.map((e) => e.name)).toEqual(['sysctl']);
    expect(spec.onshutdown[0]).toMatchObject({ name: 'bye', image: 'busybox:latest', command: ['/bin/echo', 'bye'] });
  });

  it('keeps capabilities.add and binds.add apart from capabilities and binds', () => {
    const s = every().spec.services[0]!;
    expect(s.capabilities).toEqual(['CAP_NET_ADMIN']);
    expect(s.capabilitiesAdd).toEqual(['CAP_SYS_TIME']);
    expect(s.binds).toEqual(['/etc/resolv.conf:/etc/resolv.conf']);
    expect(s.bindsAdd).toEqual(['/var/log:/var/log:rw,rbind']);
    expect(Object.keys(s)).not.toContain('capabilities.add');
    expect(Object.keys(s)).not.toContain('binds.add');
    expect(s.fieldLocs?.capabilitiesAdd).toEqual({ file: EVERY, line: 27, col: 5 });
    expect(s.fieldLocs?.bindsAdd).toEqual({ file: EVERY, line: 44, col: 5 });
  });

  it('converts every per-container key', () => {
    const s = every().spec.services[0]!;
    expect(s).toMatchObject({
      name: 'everything',
      image: 'localhost:5000/team/everything@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      command: ['/bin/app', '--serve'],
      env: ['MODE=prod'],
      cwd: '/srv',
      ambient: ['CAP_NET_BIND_SERVICE'],
      tmpfs: ['/tmp:size=64m'],
      devices: [
        { path: '/dev/console', type: 'c', major: 5, minor: 1, mode: '0666' },
        { path: 'all', type: 'b' },
      ],
      net: 'host',
      pid: 'new',
      ipc: 'host',
      uts: '/run/netns/uts0',
      userns: 'new',
      hostname: 'box',
      readonly: true,
      maskedPaths: ['/proc/kcore'],
      readonlyPaths: ['/proc/sys'],
      rootfsPropagation: 'shared',
      uid: 1000,
      gid: 'bye',
      additionalGids: [10, 'everything'],
      noNewPrivileges: true,
      seccomp: 'unconfined',
      oomScoreAdj: -500,
      cgroupsPath: '/system/everything',
      sysctl: { 'net.ipv4.ip_forward': '1' },
      rlimits: ['nofile,1024,unlimited'],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
      annotations: { 'org.example/owner': 'ops' },
      loc: { file: EVERY, line: 19, col: 5 },
    });
    expect(s.resources).toEqual({
      memory: { limit: 134217728, disableOOMKiller: false },
      cpu: { shares: 512, cpus: '0-1' },
      pids: { limit: 100 },
      devices: [{ allow: false, access: 'rwm' }],
      blockio: { weight: 100, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
      hugepageLimits: [{ pageSize: 2097152, limit: 0 }],
      network: { classID: 1, priorities: [{ name: 'eth0', priority: 5 }] },
    });
    // YAML `uidmappings` in a mount becomes the OCI name uidMappings
    expect(s.mounts).toEqual([
      { type: 'cgroup', options: ['rw'] },
      { type: 'bind', source: 'data', destination: '/data', options: ['rbind', 'ro'], uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] },
    ]);
    expect(s.runtime).toEqual({
      cgroups: ['everything'],
      mounts: [{ type: 'tmpfs', destination: '/run/everything' }],
      mkdir: ['/var/lib/everything'],
      interfaces: [{ name: 'veth0', add: 'veth', peer: 'veth1', createInRoot: false }],
      bindNS: { net: '/run/netns/everything' },
      namespace: 'system',
    });
  });

  it('leaves unset keys out (so an image label can still set them)', () => {
    const e = every().spec.onboot[0]!;
    expect(Object.keys(e).sort()).toEqual(['fieldLocs', 'image', 'loc', 'name']);
  });

  it('parses files: defaults, octal modes as numbers, ids, metadata', () => {
    const files = every().spec.files;
    expect(files.map(({ loc, ...f }) => f)).toEqual([
      { path: 'etc/motd', contents: 'hello\n', mode: 0o644, uid: 0, gid: 'root', directory: false, optional: false },
      { path: 'etc/empty', contents: '', directory: false, optional: false },
      { path: 'var/lib/data', directory: true, mode: 0o700, optional: false },
      { path: 'etc/localtime', symlink: '/usr/share/zoneinfo/UTC', directory: false, optional: false },
      { path: 'etc/key.pub', source: '~/.ssh/id_ed25519.pub', optional: true, directory: false },
      { path: 'etc/linuxkit-config', metadata: 'json', directory: false, optional: false },
    ]);
    expect(files[2]!.loc).toEqual({ file: EVERY, line: 135, col: 5 });
  });

  it('parses volumes', () => {
    expect(every().spec.volumes.map(({ loc, ...v }) => v)).toEqual([
      { name: 'data', image: 'alpine:3.21', readonly: true },
      { name: 'layout', image: 'alpine:3.21', readonly: false, format: 'oci', platforms: ['linux/amd64', 'linux/arm64/v8'] },
    ]);
  });

  it('knows where items inside an entry were written', () => {
    const s = every().spec.services[0]!;
    expect(locationIn(s, ['binds.add', 0], s.loc)).toEqual({ file: EVERY, line: 45, col: 9 });
    expect(locationIn(s, ['devices', 1, 'type'], s.loc)).toEqual({ file: EVERY, line: 55, col: 15 });
    expect(locationIn({}, ['x'], s.loc)).toEqual(s.loc);
  });
});

describe('parseSpec: warnings and edge cases', () => {
  it('accepts trust with a warning that it is ignored', () => {
    const r = parseSpec('trust:\n  org:\n    - linuxkit\n  image:\n    - nginx:1.27\n', 'trust.yml');
    expect(r.spec.trust).toEqual({ org: ['linuxkit'], image: ['nginx:1.27'] });
    expect(r.warnings.map(formatDiagnostic)).toEqual([
      'trust.yml:1:1: warning: trust: ignored: Coracle does not use Docker Content Trust; pin images by digest (name@sha256:...) instead',
    ]);
  });

  it('warns about optional without source and platforms without format oci', () => {
    const r = parseSpec(
      'files:\n  - path: a\n    contents: x\n    optional: true\nvolumes:\n  - name: v\n    platforms: [linux/amd64]\n',
      'w.yml',
    );
    expect(r.warnings.map(formatDiagnostic)).toEqual([
      'w.yml:4:5: warning: files[0].optional: "optional" has no effect without "source"',
      'w.yml:7:5: warning: volume "v": "platforms" only matters with format: oci',
    ]);
  });

  it('accepts an empty document and a comment-only one as an empty spec', () => {
    for (const text of ['', '# nothing here\n']) {
      const r = parseSpec(text, 'empty.yml');
      expect(r.spec).toMatchObject({ init: [], onboot: [], onshutdown: [], services: [], files: [], volumes: [] });
      expect(r.spec.kernel).toBeUndefined();
    }
  });

  it('allows repeated onboot names (LinuxKit numbers onboot bundles) but not repeated services', () => {
    const onboot = 'onboot:\n  - name: format\n    image: linuxkit/format:1\n  - name: format\n    image: linuxkit/format:1\n';
    expect(parseSpec(onboot, 'a.yml').spec.onboot).toHaveLength(2);
    expect(errors(onboot.replace('onboot', 'services'), 'b.yml')).toEqual([
      'b.yml:4:11: services[1].name: duplicate service name "format" (first declared at 2:11)',
    ]);
  });

  it('accepts read-only mounts of read-only volumes and any mount of read-write ones', () => {
    const text = (opts: string, ro: boolean) =>
      `onboot:\n  - name: t\n    image: alpine:3.20\n    binds:\n      - vola:/vola${opts}\nvolumes:\n  - name: vola\n    readonly: ${ro}\n`;
    expect(errors(text(':ro', true))).toEqual([]);
    expect(errors(text('', false))).toEqual([]);
    expect(errors(text(':ro', false))).toEqual([]);
    expect(errors(text(':rw,rbind', true))).toEqual([
      'spec.yml:5:9: onboot[0].binds[0]: bind "vola:/vola:rw,rbind": volume "vola" is read-only (declared at 7:5) but is mounted read-write at /vola; add the "ro" option',
    ]);
  });

  it('checks binds.add against volumes too', () => {
    const text = 'services:\n  - name: t\n    image: alpine:3.20\n    binds.add:\n      - vola:/vola\nvolumes:\n  - name: vola\n    readonly: true\n';
    expect(errors(text)).toEqual([
      'spec.yml:5:9: services[0].binds.add[0]: bind "vola:/vola": volume "vola" is read-only (declared at 7:5) but is mounted read-write at /vola; add the "ro" option',
    ]);
  });

  it('reports a duplicate volume and does not repeat errors for references to a broken volume', () => {
    const text =
      'services:\n  - name: t\n    image: alpine:3.20\n    binds: ["Bad:/x", "v:/v"]\nvolumes:\n  - name: Bad\n  - name: v\n  - name: v\n';
    expect(errors(text)).toEqual([
      'spec.yml:6:11: volumes[0].name: invalid volume name "Bad": use lower-case letters, digits, "_" and "-"',
      'spec.yml:8:11: volumes[2].name: duplicate volume name "v" (first declared at 7:11)',
    ]);
  });

  it('does not add follow-on errors for references to an entry that is itself invalid', () => {
    const text = 'services:\n  - name: db\n    image: postgres:16\n    pid: hots\nfiles:\n  - path: etc/db.conf\n    contents: x\n    uid: db\n';
    expect(errors(text)).toEqual(['spec.yml:4:10: services[0].pid: invalid pid "hots": expected "host", "root", "new" or an absolute path to a namespace']);
  });

  it('reports YAML aliases and anchors as their values', () => {
    const r = parseSpec('services:\n  - name: a\n    image: alpine:3.20\n    capabilities: &caps\n      - CAP_NET_ADMIN\n  - name: b\n    image: alpine:3.20\n    capabilities: *caps\n', 'alias.yml');
    expect(r.spec.services[1]!.capabilities).toEqual(['CAP_NET_ADMIN']);
  });

  it('names the file and position for a tab-indented document', () => {
    expect(errors('services:\n\t- name: a\n', 'tab.yml')[0]).toMatch(/^tab\.yml:2:1: YAML: /);
  });
});

describe('parseSpec: Coracle\'s restart: and timeout: keys', () => {
  const svc = (restart: string) => `services:\n  - name: web\n    image: alpine:3.20\n    restart: ${restart}\n`;
  const boot = (timeout: string) => `onboot:\n  - name: slow\n    image: alpine:3.20\n    timeout: ${timeout}\n`;

  it('accepts the three policies on a service and keeps where the key was written', () => {
    for (const p of ['no', '"no"', 'on-failure', 'always']) {
      const { spec } = parseSpec(svc(p), 'spec.yml');
      expect(spec.services[0]!.restart).toBe(p.replace(/"/g, ''));
      expect(spec.services[0]!.fieldLocs?.restart).toEqual({ file: 'spec.yml', line: 4, col: 5 });
    }
    expect(parseSpec('services:\n  - name: web\n    image: alpine:3.20\n', 'spec.yml').spec.services[0]!.restart).toBeUndefined();
  });

  it('an invalid policy is an error at FILE:LINE:COL', () => {
    expect(errors(svc('sometimes'))).toEqual(['spec.yml:4:14: services[0].restart: invalid restart policy "sometimes": expected "no", "on-failure", "always"']);
    expect(errors(svc('3'))).toEqual(['spec.yml:4:14: services[0].restart: invalid restart policy 3: expected "no", "on-failure", "always"']);
    expect(errors(svc('false'))).toEqual(['spec.yml:4:14: services[0].restart: invalid restart policy false: expected "no", "on-failure", "always" (quote "no")']);
  });

  it('accepts a duration as timeout: on onboot and onshutdown', () => {
    expect(parseSpec(boot('30s'), 'spec.yml').spec.onboot[0]!.timeout).toBe('30s');
    expect(parseSpec(boot('1m30s'), 'spec.yml').spec.onboot[0]!.timeout).toBe('1m30s');
    expect(parseSpec(boot('500ms').replace('onboot', 'onshutdown'), 'spec.yml').spec.onshutdown[0]!.timeout).toBe('500ms');
  });

  it('an invalid timeout is an error at FILE:LINE:COL', () => {
    expect(errors(boot('30'))).toEqual(['spec.yml:4:14: onboot[0].timeout: invalid timeout 30: expected a duration such as "30s", "2m" or "1m30s" (a number has no unit)']);
    expect(errors(boot('soon'))).toEqual(['spec.yml:4:14: onboot[0].timeout: invalid timeout "soon": expected a duration such as "30s", "2m" or "1m30s"']);
    expect(errors(boot('0s'))).toEqual(['spec.yml:4:14: onboot[0].timeout: invalid timeout "0s": must be longer than 0']);
  });

  it('accepts a duration as stop_timeout: on a service, zero included', () => {
    const stop = (d: string) => `services:\n  - name: web\n    image: alpine:3.20\n    stop_timeout: ${d}\n`;
    const { spec } = parseSpec(stop('3s'), 'spec.yml');
    expect(spec.services[0]!.stopTimeout).toBe('3s');
    expect(spec.services[0]!.fieldLocs?.stop_timeout).toEqual({ file: 'spec.yml', line: 4, col: 5 });
    expect(parseSpec(stop('0s'), 'spec.yml').spec.services[0]!.stopTimeout).toBe('0s');
    expect(errors(stop('10'))).toEqual(['spec.yml:4:19: services[0].stop_timeout: invalid stop_timeout 10: expected a duration such as "30s", "2m" or "1m30s" (a number has no unit)']);
    expect(errors(stop('3s').replace('services', 'onboot'))).toEqual(['spec.yml:4:5: onboot[0]: unknown key "stop_timeout"']);
  });

  it('each key belongs to its section', () => {
    expect(errors(boot('30s').replace('onboot', 'services'))).toEqual(['spec.yml:4:5: services[0]: unknown key "timeout"']);
    expect(errors(svc('always').replace('services', 'onboot'))).toEqual(['spec.yml:4:5: onboot[0]: unknown key "restart"']);
  });

  it('a label cannot set them: they are the spec\'s', () => {
    expect(() => parseImageLabelConfig('{"restart":"always"}', 'x/y:1')).toThrow(/restart/);
  });
});

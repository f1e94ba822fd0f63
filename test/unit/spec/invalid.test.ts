import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DiagnosticsError, formatDiagnostic } from '../../../src/errors.js';
import { parseSpec } from '../../../src/spec/index.js';
import { projectRoot } from '../../helpers/cli.js';

/**
 * Each spec under test/fixtures/specs/invalid/ and every error it must give,
 * exactly: FILE:LINE:COL: message (file named as the test passes it).
 */
const DIR = 'test/fixtures/specs/invalid';
const f = (name: string) => `${DIR}/${name}`;

const EXPECTED: Record<string, string[]> = {
  'unknown-section.yml': [`${f('unknown-section.yml')}:6:1: unknown section "servces"; did you mean "services"?`],
  'unknown-entry-key.yml': [`${f('unknown-entry-key.yml')}:8:5: services[1]: unknown key "capabilites"; did you mean "capabilities"?`],
  'command-not-list.yml': [
    `${f('command-not-list.yml')}:4:14: onboot[0].command: expected a list, got the string "/sbin/dhcpcd --nobackground -1"`,
  ],
  'missing-image.yml': [`${f('missing-image.yml')}:2:5: services[0]: missing required key "image"`],
  'bad-image-reference.yml': [
    `${f('bad-image-reference.yml')}:7:12: onboot[0].image: invalid image reference "linuxkit/sysctl@sha256:1234": malformed digest "sha256:1234"`,
  ],
  'duplicate-service.yml': [`${f('duplicate-service.yml')}:6:11: services[2].name: duplicate service name "getty" (first declared at 2:11)`],
  'contents-and-source.yml': [`${f('contents-and-source.yml')}:4:5: files[0].source: "contents" and "source" cannot both be set`],
  'directory-with-contents.yml': [`${f('directory-with-contents.yml')}:4:5: files[0].contents: a directory entry cannot have "contents"`],
  'bad-file-mode.yml': [`${f('bad-file-mode.yml')}:4:11: files[0].mode: invalid mode "0999": expected an octal string such as "0644"`],
  'unquoted-file-mode.yml': [
    `${f('unquoted-file-mode.yml')}:4:11: files[0].mode: mode must be a quoted octal string such as "0644" (unquoted, YAML reads it as the number 493)`,
  ],
  'yaml-syntax.yml': [`${f('yaml-syntax.yml')}:6:34: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]`],
  'duplicate-key.yml': [`${f('duplicate-key.yml')}:4:5: YAML: duplicate key "image"`],
  'rw-mount-on-ro-volume.yml': [
    `${f('rw-mount-on-ro-volume.yml')}:5:9: onboot[0].mounts[0]: bind mount of "config": volume "config" is read-only (declared at 10:5) but is mounted read-write at /config; add the "ro" option`,
  ],
  'undeclared-volume.yml': [
    `${f('undeclared-volume.yml')}:6:9: services[0].binds[1]: bind "pgdata:/var/lib/postgresql/data": "pgdata" is neither an absolute path nor a volume declared in "volumes"`,
  ],
  'bad-volume-name.yml': [
    `${f('bad-volume-name.yml')}:2:11: volumes[0].name: invalid volume name "Data_Volume": use lower-case letters, digits, "_" and "-"`,
  ],
  'unknown-capability.yml': [
    `${f('unknown-capability.yml')}:6:9: services[0].capabilities[1]: unknown capability "sys_nice"; did you mean "CAP_SYS_NICE"?`,
    `${f('unknown-capability.yml')}:7:9: services[0].capabilities[2]: unknown capability "CAP_FLY"`,
  ],
  'bind-without-destination.yml': [
    `${f('bind-without-destination.yml')}:5:9: services[0].binds.add[0]: invalid bind "/var/lib/docker": expected SOURCE:DESTINATION[:OPTIONS]`,
  ],
  'bad-namespace.yml': [
    `${f('bad-namespace.yml')}:4:10: services[0].net: invalid net "hots": expected "host", "root", "new", "none" or an absolute path to a namespace`,
  ],
  'bad-seccomp.yml': [
    `${f('bad-seccomp.yml')}:4:14: services[0].seccomp: invalid seccomp "unconfind": expected default, unconfined or the path of a JSON profile (FILE.json)`,
    `${f('bad-seccomp.yml')}:5:22: services[0].noNewPrivileges: expected true or false, got the string "no"`,
  ],
  'bad-rlimit.yml': [`${f('bad-rlimit.yml')}:5:9: services[0].rlimits[0]: invalid rlimit "nofile,1024": expected NAME,SOFT,HARD`],
  'uid-unknown-container.yml': [
    `${f('uid-unknown-container.yml')}:8:10: files[0].uid: "redis-server" is not a number, "root" or the name of a container in onboot, onshutdown or services`,
  ],
  'bad-metadata.yml': [`${f('bad-metadata.yml')}:3:15: files[0].metadata: expected one of "yaml", "json", got the string "toml"`],
  'not-a-mapping.yml': [
    `${f('not-a-mapping.yml')}:1:1: a system spec is a mapping of sections (kernel, init, onboot, onshutdown, services, files, volumes, trust, runtime, layers), got a list`,
  ],
  'empty-section.yml': [`${f('empty-section.yml')}:3:1: services: expected a list, got an empty value`],
  'several-errors.yml': [
    `${f('several-errors.yml')}:3:3: kernel: unknown key "cmdine"; did you mean "cmdline"?`,
    `${f('several-errors.yml')}:6:5: init[1]: invalid image reference "": empty`,
    `${f('several-errors.yml')}:10:15: onboot[0].readonly: expected true or false, got the string "yes"`,
    `${f('several-errors.yml')}:14:18: services[0].oomScoreAdj: must be at most 1000, got the number 2000`,
    `${f('several-errors.yml')}:16:5: files[0]: file "etc/issue" needs one of "contents", "source", "directory", "symlink" or "metadata"`,
  ],
  'file-without-contents.yml': [
    `${f('file-without-contents.yml')}:2:5: files[0]: file "etc/hostname" needs one of "contents", "source", "directory", "symlink" or "metadata"`,
  ],
  'device-without-mode.yml': [`${f('device-without-mode.yml')}:5:9: services[0].devices[0]: a device needs a "mode" such as "0666"`],
  'trust-bad-shape.yml': [`${f('trust-bad-shape.yml')}:4:3: trust: unknown key "images"; did you mean "image"?`],
  'mount-without-type.yml': [`${f('mount-without-type.yml')}:7:9: onboot[0].mounts[1]: mount at /data needs a "type"`],
  'two-documents.yml': [
    `${f('two-documents.yml')}:3:1: YAML: a second document starts here; a spec file holds one YAML document (give several files instead)`,
  ],
  'uid-negative.yml': [
    `${f('uid-negative.yml')}:4:10: onboot[0].uid: must be at least 0, got the number -1`,
    `${f('uid-negative.yml')}:5:26: onboot[0].additionalGids[1]: expected a number or a string, got true`,
  ],
};

function errorsOf(name: string): string[] {
  const file = f(name);
  try {
    parseSpec(readFileSync(join(projectRoot, file), 'utf8'), file);
  } catch (e) {
    if (e instanceof DiagnosticsError) return e.diagnostics.map(formatDiagnostic);
    throw e;
  }
  return [];
}

describe('invalid specs', () => {
  it('has an expectation for every fixture, and at least 20 fixtures', () => {
    const fixtures = readdirSync(join(projectRoot, DIR)).filter((n) => n.endsWith('.yml')).sort();
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
    expect(Object.keys(EXPECTED).sort()).toEqual(fixtures);
  });

  it.each(Object.entries(EXPECTED))('%s', (name, expected) => {
    expect(errorsOf(name)).toEqual(expected);
  });

  it('points at the exact line and column of the offending text', () => {
    // cross-check the reported positions against the fixture text itself
    for (const [name, expected] of Object.entries(EXPECTED)) {
      const lines = readFileSync(join(projectRoot, f(name)), 'utf8').split('\n');
      for (const e of expected) {
        const m = /^[^:]+:(\d+):(\d+): /.exec(e)!;
        const line = lines[Number(m[1]) - 1];
        expect(line, e).toBeDefined();
        expect(Number(m[2]), e).toBeLessThanOrEqual(line!.length + 1);
      }
    }
  });
});

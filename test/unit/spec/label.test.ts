import { describe, expect, it } from 'vitest';
import { CoracleError } from '../../../src/errors.js';
import { LabelConfigError, parseImageLabelConfig } from '../../../src/spec/index.js';

const IMAGE = 'linuxkit/getty:a86d74c8f89be8956330c3b115b0b1f2e09ef6e0';

function labelError(text: string): LabelConfigError {
  try {
    parseImageLabelConfig(text, IMAGE);
  } catch (e) {
    if (e instanceof LabelConfigError) return e;
    throw e;
  }
  throw new Error('label was accepted');
}

describe('org.mobyproject.config labels', () => {
  it('parses a label like the ones LinuxKit images carry', () => {
    // the shape of linuxkit/getty's label
    const label = JSON.stringify({
      binds: ['/etc/getty.shadow:/etc/shadow', '/run:/run', '/tmp:/tmp', '/etc:/hostroot/etc', '/usr/bin/ctr:/usr/bin/ctr'],
      mounts: [{ type: 'cgroup', options: ['rw', 'nosuid', 'noexec', 'nodev', 'relatime'] }],
      capabilities: ['all'],
      rootfsPropagation: 'shared',
      pid: 'host',
      net: 'host',
      ipc: 'host',
      uts: 'host',
      runtime: { mkdir: ['/var/log'], mounts: [{ type: 'bind', source: '/var/log', destination: '/var/log', uidmappings: [{ containerID: 0, hostID: 1, size: 1 }] }] },
    });
    const cfg = parseImageLabelConfig(label, IMAGE);
    expect(cfg).toEqual({
      binds: ['/etc/getty.shadow:/etc/shadow', '/run:/run', '/tmp:/tmp', '/etc:/hostroot/etc', '/usr/bin/ctr:/usr/bin/ctr'],
      mounts: [{ type: 'cgroup', options: ['rw', 'nosuid', 'noexec', 'nodev', 'relatime'] }],
      capabilities: ['all'],
      rootfsPropagation: 'shared',
      pid: 'host',
      net: 'host',
      ipc: 'host',
      uts: 'host',
      runtime: { mkdir: ['/var/log'], mounts: [{ type: 'bind', source: '/var/log', destination: '/var/log', uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }] },
    });
  });

  it('keeps the .add keys apart, as in the spec', () => {
    expect(parseImageLabelConfig('{"capabilities.add":["CAP_SYS_ADMIN"],"binds.add":["/a:/b"]}', IMAGE)).toEqual({
      capabilitiesAdd: ['CAP_SYS_ADMIN'],
      bindsAdd: ['/a:/b'],
    });
  });

  it('accepts an empty object and YAML text (LinuxKit reads labels with a YAML parser)', () => {
    expect(parseImageLabelConfig('{}', IMAGE)).toEqual({});
    expect(parseImageLabelConfig('net: host\nreadonly: true\n', IMAGE)).toEqual({ net: 'host', readonly: true });
  });

  it('rejects unknown keys and wrong types, naming the image and the position in the label', () => {
    const e = labelError('{"net":"host","capabilites":["CAP_NET_ADMIN"],"readonly":"yes"}');
    expect(e).toBeInstanceOf(CoracleError);
    expect(e.image).toBe(IMAGE);
    expect(e.message).toBe(
      `image ${IMAGE}: invalid org.mobyproject.config label:\n` +
        '  label:1:15: unknown key "capabilites"; did you mean "capabilities"?\n' +
        '  label:1:58: readonly: expected true or false, got the string "yes"',
    );
    expect(e.diagnostics.map((d) => [d.line, d.col])).toEqual([
      [1, 15],
      [1, 58],
    ]);
  });

  it('takes the least-privilege opt-outs; a label cannot name a seccomp profile file', () => {
    expect(parseImageLabelConfig('{"readonly":false,"noNewPrivileges":false,"seccomp":"unconfined"}', IMAGE)).toEqual({
      readonly: false,
      noNewPrivileges: false,
      seccomp: 'unconfined',
    });
    expect(parseImageLabelConfig('{"seccomp":"default"}', IMAGE)).toEqual({ seccomp: 'default' });
    expect(labelError('{"seccomp":"/etc/profile.json"}').message).toBe(
      `image ${IMAGE}: invalid org.mobyproject.config label:\n  label:1:12: seccomp: an image label cannot name a profile file: seccomp is default or unconfined`,
    );
    expect(labelError('{"seccomp":"none"}').diagnostics.map((d) => d.message)).toEqual([
      'seccomp: invalid seccomp "none": expected default, unconfined or the path of a JSON profile (FILE.json)',
    ]);
  });

  it('refuses name and image in a label', () => {
    const e = labelError('{"name":"getty","image":"alpine"}');
    expect(e.diagnostics.map((d) => d.message)).toEqual(['name: "name" cannot be set in an image label', 'image: "image" cannot be set in an image label']);
  });

  it('refuses labels that are not objects, and broken JSON', () => {
    expect(labelError('["net","host"]').message).toBe(`image ${IMAGE}: invalid org.mobyproject.config label:\n  label:1:1: expected a JSON object, got an array`);
    // a value LinuxKit's YAML reader takes as null is a type error, not a syntax error
    expect(labelError('{"net": "host",\n "pid": }').message).toBe(
      `image ${IMAGE}: invalid org.mobyproject.config label:\n  label:2:2: pid: expected a string, got an empty value`,
    );
    const broken = labelError('{"net": "host",\n "pid": "host"');
    expect(broken.message).toMatch(new RegExp(`^image ${IMAGE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid org\\.mobyproject\\.config label:\\n  label:2:\\d+: YAML: `));
  });

  it('checks values with the same rules as the spec', () => {
    const e = labelError('{"capabilities":["CAP_NET_ADMIN","all"],"binds":["/only-source"],"rlimits":["nofile,1,2,3"]}');
    expect(e.diagnostics.map((d) => d.message)).toEqual([
      'capabilities[1]: "all" must be the only item of the list',
      'binds[0]: invalid bind "/only-source": expected SOURCE:DESTINATION[:OPTIONS]',
      'rlimits[0]: invalid rlimit "nofile,1,2,3": expected NAME,SOFT,HARD',
    ]);
  });
});

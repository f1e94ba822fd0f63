import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { imageConfigToDocument, parseImageLabelConfig, parseSpec, specToDocument } from '../../../src/spec/index.js';
import { conformanceRoot, projectRoot } from '../../helpers/cli.js';

const EVERY = 'test/fixtures/specs/valid/every-key.yml';

describe('specToDocument (what metadata: yaml|json files hold)', () => {
  it('writes every key back in LinuxKit spelling', () => {
    const text = readFileSync(join(projectRoot, EVERY), 'utf8');
    const doc = specToDocument(parseSpec(text, EVERY).spec);
    const raw = parse(text) as Record<string, any>;
    // what LinuxKit always writes for files
    for (const f of raw.files) {
      f.directory ??= false;
      f.optional ??= false;
    }
    expect(doc).toEqual(raw);
    expect(Object.keys((doc.services as object[])[0]!)).toEqual(Object.keys(raw.services[0]).sort((a, b) => order(a) - order(b)));
  });

  it('writes modes as 4-digit octal strings', () => {
    const doc = specToDocument(parseSpec('files:\n  - path: a\n    contents: ""\n    mode: "755"\n  - path: b\n    contents: ""\n    mode: "7"\n', 'm.yml').spec);
    expect((doc.files as { mode: string }[]).map((f) => f.mode)).toEqual(['0755', '0007']);
  });

  it('writes Coracle\'s restart: and timeout: after LinuxKit\'s keys', () => {
    const text = 'onboot:\n  - name: a\n    image: alpine:3.20\n    timeout: 1m30s\n    env: [A=1]\nservices:\n  - name: b\n    image: alpine:3.20\n    stop_timeout: 3s\n    restart: "no"\n    env: [B=1]\n';
    const doc = specToDocument(parseSpec(text, 'r.yml').spec);
    expect((doc.onboot as object[])[0]).toEqual({ name: 'a', image: 'alpine:3.20', env: ['A=1'], timeout: '1m30s' });
    expect(Object.keys((doc.services as object[])[0]!)).toEqual(['name', 'image', 'env', 'restart', 'stop_timeout']);
    expect(specToDocument(parseSpec(stringify(doc), 'r2.yml').spec)).toEqual(doc);
  });

  it('round-trips every valid spec of the LinuxKit corpus', () => {
    const root = join(conformanceRoot, 'linuxkit');
    const files = readdirSync(root, { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile() && d.name.endsWith('.yml'))
      .map((d) => relative(root, join(d.parentPath, d.name)));
    let n = 0;
    for (const f of files) {
      let first;
      try {
        first = parseSpec(readFileSync(join(root, f), 'utf8'), f).spec;
      } catch {
        continue; // the expected failures, covered by conformance.test.ts
      }
      const doc = specToDocument(first);
      const again = parseSpec(stringify(doc), `${f} (written back)`).spec;
      expect(specToDocument(again), f).toEqual(doc);
      n++;
    }
    expect(n).toBe(files.length - 4);
  });

  it('writes a label config back as label JSON', () => {
    const label = '{"capabilities.add":["CAP_SYS_ADMIN"],"mounts":[{"type":"bind","source":"/a","destination":"/b","uidmappings":[{"hostID":1,"containerID":0,"size":1}]}],"net":"host"}';
    expect(imageConfigToDocument(parseImageLabelConfig(label, 'x'))).toEqual(JSON.parse(label));
  });
});

const ORDER = ['name', 'image', 'capabilities', 'capabilities.add', 'ambient', 'mounts', 'binds', 'binds.add', 'devices', 'tmpfs', 'command', 'env', 'cwd', 'net', 'pid', 'ipc', 'uts', 'userns', 'hostname', 'readonly', 'maskedPaths', 'readonlyPaths', 'uid', 'gid', 'additionalGids', 'noNewPrivileges', 'seccomp', 'oomScoreAdj', 'rootfsPropagation', 'cgroupsPath', 'resources', 'sysctl', 'rlimits', 'uidMappings', 'gidMappings', 'annotations', 'runtime'];
function order(k: string): number {
  return ORDER.indexOf(k);
}

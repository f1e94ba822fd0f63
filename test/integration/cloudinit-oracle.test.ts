/**
 * Oracle check against the real cloud-init: Debian's cloud-init package,
 * unpacked (never installed), runs `cloud-init schema --config-file F` on the
 * same corpus as our validator (the shared examples and our invalid
 * fixtures). Where the two disagree is recorded in src/cloudinit/README.md;
 * this test fails when the disagreements change, so each one stays explained.
 * Debian 12 ships cloud-init 22.4, older than the 26.2 schema we validate
 * against: disagreements from that are expected and recorded, not hidden.
 *
 * Re-record the table with CORACLE_RECORD_ORACLE=1.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { basename, join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { SchemaEvaluator } from '../../src/cloudinit/jsonschema.js';
import { cloudConfigSchema } from '../../src/cloudinit/schema/index.js';
import { parseUserData } from '../../src/cloudinit/userdata.js';
import { validateCloudConfig } from '../../src/cloudinit/validate.js';
import { parseYaml11 } from '../../src/cloudinit/yaml.js';
import { projectRoot } from '../helpers/cli.js';
import { officialSchemaPath } from '../unit/cloudinit/ajv-oracle.js';
import { cloudInitCorpus, invalidExamples, validExamples } from '../unit/cloudinit/corpus.js';
import { mutate, prng } from '../unit/cloudinit/mutate.js';

const PYTHON = '/usr/bin/python3'; // Debian's, not a pyenv python on PATH
const cacheDir = join(tmpdir(), 'coracle-cloud-init-deb');
const root = join(cacheDir, 'root');
const readme = join(projectRoot, 'src', 'cloudinit', 'README.md');
const START = '<!-- oracle-table:start -->';
const END = '<!-- oracle-table:end -->';

let debVersion = '';

async function unpackDebianCloudInit(): Promise<void> {
  await mkdir(cacheDir, { recursive: true });
  let debs = (await readdir(cacheDir)).filter((f) => /^cloud-init_.*\.deb$/.test(f));
  if (debs.length === 0) {
    const r = await execa('apt-get', ['download', 'cloud-init'], { cwd: cacheDir, reject: false });
    // A fresh machine may have no package lists yet.
    if (r.exitCode !== 0) {
      await execa('apt-get', ['update', '-qq']);
      await execa('apt-get', ['download', 'cloud-init'], { cwd: cacheDir });
    }
    debs = (await readdir(cacheDir)).filter((f) => /^cloud-init_.*\.deb$/.test(f));
  }
  const deb = join(cacheDir, debs.sort().at(-1)!);
  debVersion = (await execa('dpkg-deb', ['-f', deb, 'Version'])).stdout.trim();
  if (!existsSync(join(root, 'usr', 'bin', 'cloud-init'))) await execa('dpkg-deb', ['-x', deb, root]);
}

interface Verdict {
  accepted: boolean;
  message: string;
}

const env = () => ({ PYTHONPATH: join(root, 'usr', 'lib', 'python3', 'dist-packages'), LANG: 'C.UTF-8' });

function verdict(exitCode: number, out: string): Verdict {
  if (exitCode === 0) return { accepted: true, message: '' };
  const m = /Cloud config schema errors: (.*)/.exec(out);
  return { accepted: false, message: (m?.[1] ?? out.trim().split('\n').at(-1) ?? '').trim() };
}

/** The real command line, one process per file (slow: used to check the batch runner below). */
async function debianSchemaCli(file: string): Promise<Verdict> {
  const r = await execa(PYTHON, [join(root, 'usr', 'bin', 'cloud-init'), 'schema', '--config-file', file], { reject: false, env: env(), cwd: cacheDir });
  return verdict(r.exitCode ?? -1, `${r.stdout}\n${r.stderr}`);
}

/**
 * The same command's code path (its argument parser and `handle_schema_args`,
 * which is what `cloud-init schema` dispatches to) for many files in one
 * Python process: importing cloudinit takes seconds per process here.
 */
const BATCH = `
import contextlib, io, json, sys
from cloudinit.config.schema import get_parser, handle_schema_args
out = []
for path in sys.argv[1:]:
    args = get_parser().parse_args(["--config-file", path])
    so, se, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        try:
            handle_schema_args("schema", args)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    out.append({"exit": code, "out": so.getvalue() + "\\n" + se.getvalue()})
print(json.dumps(out))
`;

async function debianSchemaBatch(files: string[]): Promise<Verdict[]> {
  const r = await execa(PYTHON, ['-c', BATCH, ...files], { env: env(), cwd: cacheDir, maxBuffer: 64 * 1024 * 1024 });
  const rows = JSON.parse(r.stdout) as { exit: number; out: string }[];
  return rows.map((x) => verdict(x.exit, x.out));
}

interface Row {
  file: string;
  ours: string;
  debian: string;
  message: string;
  why: string;
}

function label(file: string): string {
  return file.startsWith(cloudInitCorpus) ? relative(cloudInitCorpus, file) : `invalid/${basename(file)}`;
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function parseTable(text: string): Row[] {
  const body = text.slice(text.indexOf(START) + START.length, text.indexOf(END));
  return body
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| file') && !l.startsWith('| ---'))
    .map((l) => {
      const cells = l.slice(2, -2).split(/ (?<!\\)\| /).map((c) => c.replace(/\\\|/g, '|'));
      return { file: cells[0]!.replace(/`/g, ''), ours: cells[1]!, debian: cells[2]!, message: cells[3] ?? '', why: cells[4] ?? '' };
    });
}

function renderTable(rows: Row[], version: string, total: number): string {
  const lines = [
    START,
    `Compared on ${total} files with Debian's cloud-init ${version} (\`cloud-init schema --config-file\`); ${rows.length} disagreements.`,
    '',
    '| file | Coracle | cloud-init | cloud-init says | why |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| \`${r.file}\` | ${r.ours} | ${r.debian} | ${cell(r.message.length > 140 ? `${r.message.slice(0, 137)}...` : r.message)} | ${cell(r.why)} |`),
    END,
  ];
  return lines.join('\n');
}

describe("oracle: Debian's cloud-init schema on the same corpus", () => {
  const files = [...validExamples(), ...invalidExamples()];
  const results = new Map<string, { ours: boolean; debian: Verdict }>();

  beforeAll(async () => {
    await unpackDebianCloudInit();
    const deps = await execa(PYTHON, ['-c', 'import yaml, jsonschema, jinja2, configobj, requests, jsonpatch, netifaces, serial, oauthlib'], { reject: false });
    if (deps.exitCode !== 0) throw new Error(`cloud-init's Python dependencies are missing (run .ci/install): ${deps.stderr}`);
    const verdicts = await debianSchemaBatch(files);
    for (const [i, f] of files.entries()) {
      results.set(f, { ours: parseUserData(await readFile(f), { file: f }).ok, debian: verdicts[i]! });
    }
  });

  it('the batch runner gives the same verdicts as the cloud-init command line', async () => {
    const sample = [files.find((f) => f.endsWith('users-lock-passwd-string.yaml'))!, files.find((f) => f.endsWith('cc_ntp/example1.yaml'))!];
    for (const f of sample) expect(await debianSchemaCli(f), f).toEqual(results.get(f)!.debian);
  });

  it('runs the real cloud-init validator (it rejects a known-bad config)', () => {
    const bad = files.find((f) => f.endsWith('users-lock-passwd-string.yaml'))!;
    expect(results.get(bad)!.debian).toMatchObject({ accepted: false });
    expect(results.get(bad)!.debian.message).toMatch(/users/);
    const good = files.find((f) => f.endsWith('cc_ntp/example1.yaml'))!;
    expect(results.get(good)!.debian.accepted).toBe(true);
  });

  it('rejects unknown top-level keys, which this cloud-init lets through', () => {
    for (const f of files.filter((x) => basename(x).startsWith('unknown-top-level-key'))) {
      expect(results.get(f)!.ours, f).toBe(false);
    }
  });

  it('disagrees only where src/cloudinit/README.md records it', async () => {
    const text = await readFile(readme, 'utf8');
    const recorded = parseTable(text);
    const whyOf = new Map(recorded.map((r) => [r.file, r.why]));
    const actual: Row[] = [];
    for (const f of files) {
      const { ours, debian } = results.get(f)!;
      if (ours === debian.accepted) continue;
      const file = label(f);
      actual.push({ file, ours: ours ? 'accepts' : 'rejects', debian: debian.accepted ? 'accepts' : 'rejects', message: debian.message, why: whyOf.get(file) ?? 'TODO' });
    }
    if (process.env.CORACLE_RECORD_ORACLE) {
      const table = renderTable(actual, debVersion, files.length);
      await writeFile(readme, text.includes(START) ? text.slice(0, text.indexOf(START)) + table + text.slice(text.indexOf(END) + END.length) : `${text}\n${table}\n`);
    }
    const key = (r: Row) => `${r.file} ${r.ours} ${r.debian}`;
    expect(actual.map(key).sort()).toEqual(recorded.map(key).sort());
    expect(text).toContain(`Debian's cloud-init ${debVersion}`);
    // Every recorded disagreement is explained.
    for (const r of recorded) expect(r.why, r.file).not.toMatch(/^(TODO)?$/);
  });
});

/**
 * cloud-init's own validator (the 22.4 code: its jsonschema Draft-4 class with
 * cloud-init's type checker and keyword overrides, Debian's jsonschema and
 * FormatChecker) run on the 26.2 schema file that Coracle ships. With the
 * schema version out of the way, it must agree with Coracle on every file and
 * on thousands of mutated configs: this pins the validator semantics ($ref
 * siblings, bytes as strings, formats), the part Ajv can share our view of.
 */
const PY_VALIDATE = `
import json, sys, yaml
from cloudinit.config.schema import get_jsonschema_validator, SchemaDeprecationError
schema = json.load(open(sys.argv[1]))
Validator, FormatChecker = get_jsonschema_validator()
validator = Validator(schema, format_checker=FormatChecker())
def verdict(config):
    if config is None:
        config = {}
    if not isinstance(config, dict):
        return False
    return not any(not isinstance(e, SchemaDeprecationError) for e in validator.iter_errors(config))
out = {"files": [], "configs": []}
for path in json.load(open(sys.argv[2])):
    try:
        config = yaml.safe_load(open(path, "rb"))
    except yaml.YAMLError:
        out["files"].append(False)
        continue
    out["files"].append(verdict(config))
for config in json.load(open(sys.argv[3])):
    out["configs"].append(verdict(config))
print(json.dumps(out))
`;

/** JSON has no bytes: `!!binary` content goes over as the latin1 string both validators see as a string. */
function jsonSafe(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === 'object' && !(v instanceof Date)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}

describe("oracle: cloud-init's validator on the schema Coracle ships", () => {
  it('agrees with Coracle on the corpus and on mutated configs', async () => {
    await unpackDebianCloudInit();
    const files = [...validExamples(), ...invalidExamples()];
    const rnd = prng(4242);
    const configs: unknown[] = [];
    for (const f of validExamples()) {
      const value = jsonSafe(parseYaml11(await readFile(f, 'utf8')).value ?? {}) as Record<string, unknown>;
      for (let i = 0; i < 10; i++) configs.push(mutate(value, rnd));
    }
    const work = await mkdtemp(join(tmpdir(), 'coracle-ci-oracle-'));
    try {
      await writeFile(join(work, 'files.json'), JSON.stringify(files));
      await writeFile(join(work, 'configs.json'), JSON.stringify(configs));
      const r = await execa(PYTHON, ['-c', PY_VALIDATE, officialSchemaPath, join(work, 'files.json'), join(work, 'configs.json')], {
        env: env(),
        cwd: cacheDir,
        maxBuffer: 64 * 1024 * 1024,
      });
      const py = JSON.parse(r.stdout) as { files: boolean[]; configs: boolean[] };
      const fileDisagreements: string[] = [];
      for (const [i, f] of files.entries()) {
        // Document level, as the Python side reads it: two examples carry a
        // `## template: jinja` line, which user-data processing refuses (not supported).
        const ours = validateCloudConfig(await readFile(f, 'utf8'), { file: f }).ok;
        if (ours !== py.files[i]) fileDisagreements.push(`${label(f)}: ours=${ours} cloud-init=${py.files[i]}`);
      }
      expect(fileDisagreements).toEqual([]);
      const evaluator = new SchemaEvaluator(cloudConfigSchema);
      const configDisagreements: string[] = [];
      let rejected = 0;
      for (const [i, c] of configs.entries()) {
        const ours = evaluator.validate(c).issues.length === 0;
        if (!py.configs[i]) rejected++;
        if (ours !== py.configs[i]) configDisagreements.push(`${JSON.stringify(c).slice(0, 200)} ours=${ours}`);
      }
      expect(rejected).toBeGreaterThan(configs.length / 3);
      expect(configDisagreements).toEqual([]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

/**
 * The YAML layer against PyYAML (what cloud-init reads cloud-config with):
 * every corpus file, every invalid fixture and a file of YAML 1.1 corner
 * cases must load to the same value. Timestamps go over as UTC ISO strings,
 * bytes as latin1 strings, non-finite floats as their names.
 */
const PY_LOAD = `
import base64, datetime, json, math, sys, yaml
def norm(v):
    if isinstance(v, dict):
        return {str(k).lower() if isinstance(k, bool) else str(k): norm(x) for k, x in v.items()}
    if isinstance(v, list):
        return [norm(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("latin1")
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return "ts:" + v.isoformat(timespec="milliseconds")
    if isinstance(v, datetime.date):
        return "ts:" + v.isoformat() + "T00:00:00.000"
    if isinstance(v, float) and not math.isfinite(v):
        return "float:" + str(v)
    return v
out = []
for path in json.load(open(sys.argv[1])):
    try:
        out.append({"ok": True, "value": norm(yaml.safe_load(open(path, "rb")))})
    except yaml.YAMLError as e:
        out.append({"ok": False})
print(json.dumps(out))
`;

function normJs(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
  if (v instanceof Date) return `ts:${v.toISOString().replace(/Z$/, '')}`;
  if (typeof v === 'number' && !Number.isFinite(v)) return `float:${Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf'}`;
  if (Array.isArray(v)) return v.map(normJs);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normJs(x)]));
  return v;
}

describe('oracle: the YAML layer reads cloud-config as PyYAML does', () => {
  it('loads the corpus, the fixtures and YAML 1.1 corner cases to the same values', async () => {
    await unpackDebianCloudInit();
    const files = [...validExamples(), ...invalidExamples(), join(projectRoot, 'test', 'fixtures', 'cloud-init', 'yaml11-scalars.yaml')];
    const work = await mkdtemp(join(tmpdir(), 'coracle-ci-yaml-'));
    try {
      await writeFile(join(work, 'files.json'), JSON.stringify(files));
      const r = await execa(PYTHON, ['-c', PY_LOAD, join(work, 'files.json')], { env: env(), cwd: cacheDir, maxBuffer: 64 * 1024 * 1024 });
      const py = JSON.parse(r.stdout) as { ok: boolean; value?: unknown }[];
      const differences: string[] = [];
      for (const [i, f] of files.entries()) {
        const ours = parseYaml11(await readFile(f, 'utf8'));
        if (ours.errors.length > 0 || !py[i]!.ok) {
          if ((ours.errors.length === 0) !== py[i]!.ok) differences.push(`${label(f)}: ours parses=${ours.errors.length === 0}, PyYAML parses=${py[i]!.ok}`);
          continue;
        }
        const a = JSON.stringify(normJs(ours.value));
        const b = JSON.stringify(py[i]!.value);
        if (a !== b) differences.push(`${label(f)}:\n  ours   ${a.slice(0, 600)}\n  PyYAML ${b.slice(0, 600)}`);
      }
      expect(differences).toEqual([]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe("interop: user-data made by cloud-init's own make-mime", () => {
  it('splits, decodes and types every part as cloud-init would', async () => {
    await unpackDebianCloudInit();
    const work = await mkdtemp(join(tmpdir(), 'coracle-ci-mime-'));
    try {
      const parts: [string, string, string][] = [
        ['base.yaml', 'cloud-config', '#cloud-config\nhostname: from-mime\nruncmd: [a]\n'],
        ['boot.sh', 'x-shellscript-per-boot', '#!/bin/sh\necho boot\n'],
        ['inst.sh', 'x-shellscript-per-instance', '#!/bin/sh\necho instance\n'],
        ['once.sh', 'x-shellscript-per-once', '#!/bin/sh\necho once\n'],
        ['plain.sh', 'x-shellscript', '#!/bin/sh\necho plain\n'],
        ['override.yaml', 'cloud-config', '#cloud-config\nruncmd: [b]\nusers:\n  - name: u\n    lock_passwd: "no"\n'],
      ];
      const args: string[] = [];
      for (const [name, type, body] of parts) {
        await writeFile(join(work, name), body);
        args.push('-a', `${join(work, name)}:${type}`);
      }
      const made = await execa(PYTHON, [join(root, 'usr', 'bin', 'cloud-init'), 'devel', 'make-mime', ...args], { env: env(), cwd: cacheDir, stripFinalNewline: false });
      for (const [input, file] of [[made.stdout, 'ud.mime'], [gzipSync(Buffer.from(made.stdout)), 'ud.mime.gz']] as const) {
        const r = parseUserData(input, { file });
        const src = file === 'ud.mime' ? file : `${file}(gunzipped)`;
        expect(r.parts.map((p) => (p.kind === 'script' ? `${p.filename} ${p.frequency} ${p.content.toString()}` : `cloud-config ${p.source}`))).toEqual([
          `cloud-config ${src}[part 1 ${join(work, 'base.yaml')}]`,
          'boot.sh per-boot #!/bin/sh\necho boot\n',
          'inst.sh per-instance #!/bin/sh\necho instance\n',
          'once.sh per-once #!/bin/sh\necho once\n',
          'plain.sh per-instance #!/bin/sh\necho plain\n',
          `cloud-config ${src}[part 6 ${join(work, 'override.yaml')}]`,
        ]);
        expect(r.cloudConfig).toEqual({ hostname: 'from-mime', runcmd: ['b'], users: [{ name: 'u', lock_passwd: 'no' }] });
        // The error is placed in the base64 part it comes from, at its line there.
        expect(r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.file.endsWith(`[part 6 ${join(work, 'override.yaml')}]`), d.path, d.line, d.col])).toEqual([
          [true, 'users[0].lock_passwd', 5, 18],
        ]);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

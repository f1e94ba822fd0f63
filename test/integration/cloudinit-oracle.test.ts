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
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseUserData } from '../../src/cloudinit/userdata.js';
import { projectRoot } from '../helpers/cli.js';
import { cloudInitCorpus, invalidExamples, validExamples } from '../unit/cloudinit/corpus.js';

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

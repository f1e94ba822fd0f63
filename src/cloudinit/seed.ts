/**
 * NoCloud seed volumes: `user-data`, `meta-data` and optionally
 * `network-config` at the root of an ISO9660 volume labelled `cidata`
 * (Joliet and Rock Ridge, via xorriso) or a FAT volume labelled `CIDATA`
 * (mkfs.vfat + mtools). Same inputs give the same bytes: every date in the
 * image is fixed, ownership and modes are normalised. The image appears at
 * `outPath` whole or not at all (written beside it, then renamed).
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, mkdtemp, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { isMap, parseDocument } from 'yaml';
import { CoracleError, DiagnosticsError } from '../errors.js';
import { parseUserData, type UserData } from './userdata.js';

export type SeedFormat = 'iso' | 'vfat';

export interface SeedOptions {
  /** The user-data payload, as given (cloud-config, script, MIME, gzip ...). */
  userData: string | Buffer;
  /** NoCloud meta-data (YAML); an `instance-id` is added when it has none. */
  metaData?: string | Buffer;
  /** Network config (v1 or v2 YAML), written as `network-config`. */
  networkConfig?: string | Buffer;
  format: SeedFormat;
  /**
   * Folder that keeps a generated instance-id (`cloud-init-instance-id`), so
   * that one state folder keeps one instance across runs. Without it a new
   * instance-id is generated on every call when meta-data has none.
   */
  stateDir?: string;
  /**
   * What to do with user-data that does not validate: 'error' (default)
   * throws a DiagnosticsError and writes nothing; 'ignore' writes the seed
   * anyway (for testing how hosts cope with bad user-data).
   */
  onInvalid?: 'error' | 'ignore';
  /** Names used in diagnostics for the inputs (default "user-data", "meta-data"). */
  userDataName?: string;
  metaDataName?: string;
  networkConfigName?: string;
  /** Date stamped on the volume and its files, in seconds since the epoch (default: $SOURCE_DATE_EPOCH, else 2000-01-01). */
  epoch?: number;
}

export interface SeedResult {
  path: string;
  format: SeedFormat;
  instanceId: string;
  /** True when the instance-id was generated (or taken from the state folder) rather than given. */
  instanceIdGenerated: boolean;
  /** The user-data as parsed, with its diagnostics (warnings, and errors when onInvalid is 'ignore'). */
  userData: UserData;
  /** The meta-data text written to the seed. */
  metaData: string;
}

const DEFAULT_EPOCH = 946684800; // 2000-01-01T00:00:00Z: FAT cannot go before 1980.
const STATE_FILE = 'cloud-init-instance-id';

export function newInstanceId(): string {
  return `iid-${randomBytes(8).toString('hex')}`;
}

/** The meta-data to write, with an instance-id, and whether that id was generated. */
export async function resolveMetaData(
  metaData: string | Buffer | undefined,
  stateDir: string | undefined,
  name = 'meta-data',
): Promise<{ text: string; instanceId: string; generated: boolean }> {
  const text = metaData === undefined ? '' : metaData.toString();
  const doc = parseDocument(text, { version: '1.1' });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new CoracleError(`${name}:${e.linePos?.[0]?.line ?? 1}:${e.linePos?.[0]?.col ?? 1}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const value = doc.toJS() as unknown;
  if (value !== null && value !== undefined && (typeof value !== 'object' || Array.isArray(value))) {
    throw new CoracleError(`${name}:1:1: meta-data must be a YAML mapping (instance-id, local-hostname, ...)`);
  }
  const given = (value as Record<string, unknown> | null)?.['instance-id'];
  if (typeof given === 'string' || typeof given === 'number') {
    if (String(given).trim() === '') throw new CoracleError(`${name}: instance-id is empty`);
    return { text: text.endsWith('\n') || text === '' ? text : `${text}\n`, instanceId: String(given), generated: false };
  }
  if (given !== undefined && given !== null) throw new CoracleError(`${name}: instance-id must be a string`);
  const instanceId = await stateInstanceId(stateDir);
  let out: string;
  if (isMap(doc.contents)) {
    doc.set('instance-id', instanceId);
    out = doc.toString();
  } else {
    out = `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}instance-id: ${instanceId}\n`;
  }
  return { text: out, instanceId, generated: true };
}

/** network-config must be YAML with `version: 1` or `2`, at the top or under `network:`. */
export function checkNetworkConfig(text: string, name = 'network-config'): void {
  const doc = parseDocument(text, { version: '1.1' });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new CoracleError(`${name}:${e.linePos?.[0]?.line ?? 1}:${e.linePos?.[0]?.col ?? 1}: invalid YAML: ${e.message.split('\n')[0]}`);
  }
  const value = doc.toJS() as unknown;
  const obj = value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  const inner = obj?.network !== null && typeof obj?.network === 'object' ? (obj.network as Record<string, unknown>) : obj;
  if (!inner || (inner.version !== 1 && inner.version !== 2)) {
    throw new CoracleError(`${name}:1:1: network-config must be a mapping with "version: 1" or "version: 2" (at the top or under "network:")`);
  }
}

async function stateInstanceId(stateDir: string | undefined): Promise<string> {
  if (!stateDir) return newInstanceId();
  const file = join(stateDir, STATE_FILE);
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (/^[A-Za-z0-9._:-]+$/.test(id)) return id;
    throw new CoracleError(`${file}: not an instance-id: remove the file to get a new one`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  // Publish with link(2), which fails when the file exists: two runs racing on
  // one state folder end up with the same id, whichever wrote it first.
  await mkdir(stateDir, { recursive: true });
  const tmp = join(stateDir, `.${STATE_FILE}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, `${newInstanceId()}\n`);
    await link(tmp, file).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  } finally {
    await rm(tmp, { force: true });
  }
  const id = (await readFile(file, 'utf8')).trim();
  if (!/^[A-Za-z0-9._:-]+$/.test(id)) throw new CoracleError(`${file}: not an instance-id: remove the file to get a new one`);
  return id;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  try {
    await execa(cmd, args, { env: { ...env }, stdin: 'ignore' });
  } catch (e) {
    const err = e as { code?: string; stderr?: string; shortMessage?: string };
    if (err.code === 'ENOENT') throw new CoracleError(`${cmd} not found: install it (Debian: ${cmd === 'xorriso' ? 'xorriso' : cmd === 'mkfs.vfat' ? 'dosfstools' : 'mtools'})`);
    throw new CoracleError(`${cmd} failed: ${(err.stderr ?? err.shortMessage ?? String(e)).trim().split('\n').slice(-3).join(' / ')}`);
  }
}

function stamp(epoch: number): string {
  // YYYYMMDDhhmmsscc in UTC, as xorriso takes it.
  const d = new Date(epoch * 1000);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}00`;
}

function defaultEpoch(): number {
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env && /^\d+$/.test(env) && Number(env) >= 315532800) return Number(env);
  return DEFAULT_EPOCH;
}

/**
 * Build a NoCloud seed image at `outPath`. Validates user-data first (see
 * `onInvalid`); adds an instance-id to meta-data when it has none.
 */
export async function makeSeed(options: SeedOptions, outPath: string): Promise<SeedResult> {
  const userData = parseUserData(options.userData, { file: options.userDataName ?? 'user-data' });
  if (!userData.ok && (options.onInvalid ?? 'error') === 'error') {
    throw new DiagnosticsError(userData.diagnostics.filter((d) => d.severity === 'error'));
  }
  if (options.networkConfig !== undefined) checkNetworkConfig(options.networkConfig.toString(), options.networkConfigName ?? 'network-config');
  const meta = await resolveMetaData(options.metaData, options.stateDir, options.metaDataName ?? 'meta-data');
  const epoch = options.epoch ?? defaultEpoch();
  const files: [string, Buffer][] = [
    ['user-data', Buffer.isBuffer(options.userData) ? options.userData : Buffer.from(options.userData, 'utf8')],
    ['meta-data', Buffer.from(meta.text, 'utf8')],
  ];
  if (options.networkConfig !== undefined) {
    files.push(['network-config', Buffer.isBuffer(options.networkConfig) ? options.networkConfig : Buffer.from(options.networkConfig, 'utf8')]);
  }

  const outDir = dirname(outPath);
  await mkdir(outDir, { recursive: true });
  const stage = await mkdtemp(join(tmpdir(), 'coracle-seed-'));
  const tmpOut = join(outDir, `.${basename(outPath)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const content = join(stage, 'content');
    await mkdir(content);
    for (const [name, data] of files) {
      const p = join(content, name);
      await writeFile(p, data, { mode: 0o644 });
      await utimes(p, epoch, epoch);
    }
    if (options.format === 'iso') await makeIso(content, tmpOut, epoch);
    else if (options.format === 'vfat') await makeVfat(content, files, tmpOut, epoch);
    else throw new CoracleError(`unknown seed format "${String(options.format)}": use iso or vfat`);
    await rename(tmpOut, outPath);
  } catch (e) {
    await rm(tmpOut, { force: true });
    throw e;
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  return {
    path: outPath,
    format: options.format,
    instanceId: meta.instanceId,
    instanceIdGenerated: meta.generated,
    userData,
    metaData: meta.text,
  };
}

async function makeIso(content: string, out: string, epoch: number): Promise<void> {
  const date = stamp(epoch);
  await run('xorriso', [
    '-as', 'mkisofs',
    '-quiet',
    '-V', 'cidata',
    '-J', '-R',
    // Normalised ownership and modes, fixed dates: the same inputs give the same bytes.
    '-uid', '0', '-gid', '0', '-file-mode', '0444', '-dir-mode', '0555',
    `--modification-date=${date}`,
    '--set_all_file_dates', date,
    '-o', out,
    content,
  ]);
}

async function makeVfat(content: string, files: [string, Buffer][], out: string, epoch: number): Promise<void> {
  const total = files.reduce((n, [, b]) => n + b.length, 0);
  // KiB: room for the data plus FAT overhead; at least 1 MiB.
  const sizeKiB = Math.max(1024, Math.ceil((total * 1.1) / 1024) + 256);
  // Volume serial from the date, so it is fixed but not the same for every epoch.
  const serial = (epoch >>> 0).toString(16).padStart(8, '0').slice(-8);
  const env = { TZ: 'UTC', MTOOLS_SKIP_CHECK: '1', PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  await run('mkfs.vfat', ['--invariant', '-n', 'CIDATA', '-i', serial, '-C', out, String(sizeKiB)], env);
  const s = await stat(out);
  if (s.size === 0) throw new CoracleError('mkfs.vfat made an empty image');
  await run('mcopy', ['-m', '-i', out, ...files.map(([name]) => join(content, name)), '::/'], env);
}

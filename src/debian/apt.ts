import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { CoracleError } from '../errors.js';
import { describeSources, parseDeb822Sources, type AptSource } from './sources.js';
import { withDirLock } from './lock.js';

/** A Debian package chosen by apt's resolver, with the exact version unpacked. */
export interface ResolvedPackage {
  name: string;
  version: string;
  architecture: string;
  /** The archive/suite it came from, as apt reports it (`Debian:12.15/oldstable`). */
  origin: string;
  /** sha256 of the .deb, when known (from a lock file): checked on every use. */
  sha256?: string;
}

/** A package at a version the archive no longer offers (a lock file outlived a point release). */
export class MissingVersionError extends CoracleError {
  readonly pkg: ResolvedPackage;
  constructor(pkg: ResolvedPackage, archive: string) {
    super(`Debian package ${pkg.name} ${pkg.version} (${pkg.architecture}) is no longer in ${archive}`);
    this.pkg = pkg;
  }
}

export interface AptArchiveOptions {
  /** Folder holding the private apt state and the downloaded .debs (shared across builds). */
  cacheDir: string;
  /** deb822 sources file to resolve against (default: the host's debian.sources). */
  sourcesFile: string;
  /** Debian architecture (amd64). */
  architecture: string;
  /** Refresh the package lists when older than this (ms). Default 1 h. */
  listsMaxAgeMs?: number;
}

/** A package named in a definition that apt could not find. */
export class UnknownPackageError extends CoracleError {
  readonly packageName: string;
  readonly archive: string;
  constructor(packageName: string, archive: string, reason: string) {
    super(`Debian package "${packageName}" ${reason} in ${archive}`);
    this.packageName = packageName;
    this.archive = archive;
  }
}

/**
 * apt run against a private state folder (lists, an empty dpkg status, the
 * .deb cache) and a given deb822 sources file: nothing on the host's apt
 * state is read or written, and no chroot is needed. This is how mmdebstrap
 * drives apt for `--variant=extract`; doing it here lets the resolved
 * versions feed the image tag before anything is downloaded, and lets the
 * .deb cache live in the store.
 */
export class AptArchive {
  readonly cacheDir: string;
  readonly archivesDir: string;
  readonly stateRoot: string;
  readonly sourcesFile: string;
  readonly architecture: string;
  private readonly maxAge: number;
  private sources: AptSource[] = [];
  private sourcesText = '';
  private ready = false;

  constructor(opts: AptArchiveOptions) {
    // apt.conf needs absolute paths: apt resolves relative ones against Dir.
    this.cacheDir = resolve(opts.cacheDir);
    this.archivesDir = join(this.cacheDir, 'archives');
    this.sourcesFile = opts.sourcesFile;
    this.architecture = opts.architecture;
    this.maxAge = opts.listsMaxAgeMs ?? 3600_000;
    this.stateRoot = '';
  }

  /** Where apt looked, for error messages. */
  describe(): string {
    return `${describeSources(this.sources)} [from ${this.sourcesFile}]`;
  }

  private get root(): string {
    const h = createHash('sha256').update(this.sourcesText).update(this.architecture).digest('hex').slice(0, 12);
    return join(this.cacheDir, `apt-${this.architecture}-${h}`);
  }

  private get configFile(): string {
    return join(this.root, 'apt.conf');
  }

  private env(): Record<string, string> {
    return { APT_CONFIG: this.configFile, LC_ALL: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive' };
  }

  /** Set up the private apt folders and refresh the lists when stale. */
  async prepare(): Promise<void> {
    if (this.ready) return;
    try {
      this.sourcesText = await readFile(this.sourcesFile, 'utf8');
    } catch (e) {
      throw new CoracleError(`cannot read apt sources ${this.sourcesFile}: ${(e as Error).message}`);
    }
    this.sources = parseDeb822Sources(this.sourcesText);
    if (this.sources.length === 0) throw new CoracleError(`no deb822 sources in ${this.sourcesFile}`);
    const root = this.root;
    await withDirLock(join(this.cacheDir, '.lock'), async () => {
      for (const d of ['etc/sources.list.d', 'etc/apt.conf.d', 'etc/preferences.d', 'state/lists/partial', 'cache']) {
        await mkdir(join(root, d), { recursive: true });
      }
      await mkdir(join(this.archivesDir, 'partial'), { recursive: true });
      await writeFile(join(root, 'etc/sources.list.d/coracle.sources'), this.sourcesText);
      await writeFile(join(root, 'state/status'), '');
      const conf = [
        `Dir::Etc "${root}/etc";`,
        `Dir::Etc::SourceList "/dev/null";`,
        `Dir::Etc::SourceParts "${root}/etc/sources.list.d";`,
        `Dir::Etc::Parts "${root}/etc/apt.conf.d";`,
        `Dir::Etc::Preferences "/dev/null";`,
        `Dir::Etc::PreferencesParts "${root}/etc/preferences.d";`,
        `Dir::State "${root}/state";`,
        `Dir::State::status "${root}/state/status";`,
        `Dir::Cache "${root}/cache";`,
        `Dir::Cache::Archives "${this.archivesDir}";`,
        `APT::Architecture "${this.architecture}";`,
        `APT::Architectures { "${this.architecture}"; };`,
        `APT::Install-Recommends "false";`,
        `APT::Install-Suggests "false";`,
        `APT::Sandbox::User "root";`,
        `Debug::NoLocking "true";`,
        `Acquire::Languages "none";`,
        '',
      ].join('\n');
      await writeFile(this.configFile, conf);
      const stamp = join(root, 'updated');
      const age = await stat(stamp).then((s) => Date.now() - s.mtimeMs, () => Infinity);
      if (age > this.maxAge) {
        const r = await execa('apt-get', ['update', '-q'], { env: this.env(), stdin: 'ignore', reject: false });
        if (r.exitCode !== 0 || /^(E:|W: Failed)/m.test(r.stderr)) {
          throw new CoracleError(`apt-get update failed for ${this.describe()}: ${lastLines(r.stderr)}`);
        }
        await writeFile(stamp, new Date().toISOString());
      }
    });
    this.ready = true;
  }

  /**
   * Resolve `packages` (names, or name=version) and their dependencies (no
   * recommends) from an empty system. Sorted by name.
   */
  async resolve(packages: string[]): Promise<ResolvedPackage[]> {
    await this.prepare();
    if (packages.length === 0) return [];
    return this.memo(`deps\n${packages.join('\n')}`, () => this.resolveWithApt(packages));
  }

  /**
   * The same request against the same package lists resolves the same way:
   * answers are remembered until the next `apt-get update` (its stamp is in
   * the key), so an up-to-date image is found without running apt.
   */
  private async memo(request: string, compute: () => Promise<ResolvedPackage[]>): Promise<ResolvedPackage[]> {
    const stamp = await readFile(join(this.root, 'updated'), 'utf8').catch(() => '');
    const key = createHash('sha256').update(`${stamp}\n${this.architecture}\n${request}`).digest('hex');
    const file = join(this.root, 'resolved', `${key}.json`);
    const known = await readFile(file, 'utf8').then((t) => JSON.parse(t) as ResolvedPackage[], () => undefined);
    if (known) return known;
    const resolved = await compute();
    await mkdir(join(this.root, 'resolved'), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(resolved));
    await rename(tmp, file);
    return resolved;
  }

  private async resolveWithApt(packages: string[]): Promise<ResolvedPackage[]> {
    // Under the cache lock: another process may be refreshing the lists.
    const r = await withDirLock(join(this.cacheDir, '.lock'), () =>
      execa('apt-get', ['install', '-s', '-q', '--no-install-recommends', ...packages], {
        env: this.env(),
        stdin: 'ignore',
        reject: false,
      }),
    );
    if (r.exitCode !== 0) throw this.resolveError(packages, r.stderr + '\n' + r.stdout);
    const out: ResolvedPackage[] = [];
    for (const line of r.stdout.split('\n')) {
      const m = /^Inst (\S+) \((\S+) (.*) \[([^\]]+)\]\)/.exec(line);
      if (!m) continue;
      const name = m[1]!.replace(/:[a-z0-9]+$/, '');
      out.push({ name, version: m[2]!, origin: m[3]!.trim(), architecture: m[4]! });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Only the named packages, at their candidate versions (the narrow path: no dependencies). */
  async resolveExact(packages: string[]): Promise<ResolvedPackage[]> {
    await this.prepare();
    return this.memo(`exact\n${packages.join('\n')}`, () => this.showExact(packages));
  }

  private async showExact(packages: string[]): Promise<ResolvedPackage[]> {
    const out: ResolvedPackage[] = [];
    for (const p of packages) {
      const [name, pinned] = p.split('=') as [string, string | undefined];
      const r = await execa('apt-cache', ['show', '--no-all-versions', pinned ? `${name}=${pinned}` : name], {
        env: this.env(),
        stdin: 'ignore',
        reject: false,
      });
      const fields = new Map<string, string>();
      for (const line of r.stdout.split('\n')) {
        const m = /^([A-Za-z-]+): (.*)$/.exec(line);
        if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!);
      }
      if (r.exitCode !== 0 || !fields.has('Version')) {
        throw new UnknownPackageError(name, this.describe(), pinned ? `version ${pinned} not found` : 'not found');
      }
      out.push({ name, version: fields.get('Version')!, architecture: fields.get('Architecture')!, origin: '' });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private resolveError(packages: string[], text: string): CoracleError {
    const where = this.describe();
    let m = /Unable to locate package (\S+)/.exec(text);
    if (m) return new UnknownPackageError(m[1]!, where, 'not found');
    m = /Package '?([^' ]+)'? has no installation candidate/.exec(text);
    if (m) return new UnknownPackageError(m[1]!, where, 'has no installation candidate');
    m = /Version '([^']+)' for '([^']+)' was not found/.exec(text);
    if (m) return new UnknownPackageError(m[2]!, where, `version ${m[1]} not found`);
    return new CoracleError(`apt could not resolve ${packages.join(' ')} from ${where}: ${lastLines(text)}`);
  }

  /** Path of a resolved package's .deb in the cache (apt's own file naming). */
  debPath(p: ResolvedPackage): string {
    const v = p.version.replace(/:/g, '%3a');
    return join(this.archivesDir, `${p.name}_${v}_${p.architecture}.deb`);
  }

  /**
   * The .deb sha256 of each package at its exact version, from the package
   * lists (nothing is downloaded). A version the lists lack is a MissingVersionError.
   */
  async debHashes(pkgs: ResolvedPackage[]): Promise<string[]> {
    await this.prepare();
    const out: string[] = [];
    for (const p of pkgs) {
      const r = await execa('apt-cache', ['show', `${p.name}:${p.architecture}=${p.version}`], { env: this.env(), stdin: 'ignore', reject: false });
      const m = /^SHA256: ([0-9a-f]{64})$/m.exec(r.stdout);
      if (r.exitCode !== 0 || !m) throw new MissingVersionError(p, this.describe());
      out.push(m[1]!);
    }
    return out;
  }

  /** A cached .deb is usable when present and, for a locked package, of the locked sha256. */
  private async cached(p: ResolvedPackage): Promise<boolean> {
    const path = this.debPath(p);
    if (!(await stat(path).then((s) => s.size > 0, () => false))) return false;
    return p.sha256 === undefined || (await fileSha256(path)) === p.sha256;
  }

  /** Download (or find in the cache) the .debs of exactly these packages; returns their paths. */
  async download(pkgs: ResolvedPackage[], onFetch?: (p: ResolvedPackage) => void): Promise<string[]> {
    await this.prepare();
    const missing: ResolvedPackage[] = [];
    for (const p of pkgs) {
      if (!(await this.cached(p))) missing.push(p);
    }
    if (missing.length > 0) {
      for (const p of missing) onFetch?.(p);
      await withDirLock(join(this.cacheDir, '.lock'), async () => {
        // `apt-get download` checks each file against the archive's hash;
        // it writes into the working folder, so fetch into a private folder
        // then rename into the cache (whole files only).
        const tmp = join(this.archivesDir, 'partial', `dl-${process.pid}-${Date.now()}`);
        await mkdir(tmp, { recursive: true });
        try {
          const r = await execa('apt-get', ['download', '-q', ...missing.map((p) => `${p.name}:${p.architecture}=${p.version}`)], {
            env: this.env(),
            cwd: tmp,
            stdin: 'ignore',
            reject: false,
          });
          if (r.exitCode !== 0) {
            // apt names the first version it cannot find: say which package the archive dropped
            const gone = missing.find((p) => r.stderr.includes(`'${p.version}'`) && r.stderr.includes(p.name));
            if (gone && /(Can't find a source to download version|Version '[^']+' for '[^']+' was not found)/.test(r.stderr))
              throw new MissingVersionError(gone, this.describe());
            throw new CoracleError(`downloading ${missing.map((p) => p.name).join(' ')} from ${this.describe()} failed: ${lastLines(r.stderr)}`);
          }
          for (const p of missing) {
            const name = this.debPath(p).slice(this.archivesDir.length + 1);
            if (p.sha256 !== undefined) {
              const got = await fileSha256(join(tmp, name)).catch(() => undefined);
              if (got !== undefined && got !== p.sha256)
                throw new CoracleError(`Debian package ${p.name} ${p.version}: the archive's .deb has sha256 ${got}, the lock file says ${p.sha256}`);
            }
            await rename(join(tmp, name), this.debPath(p)).catch(async (e) => {
              throw new CoracleError(`apt-get download did not produce ${name}: ${(e as Error).message}`);
            });
          }
        } finally {
          await rm(tmp, { recursive: true, force: true });
        }
      });
    }
    return pkgs.map((p) => this.debPath(p));
  }
}

async function fileSha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

function lastLines(s: string, n = 5): string {
  return s.trim().split('\n').slice(-n).join(' | ');
}

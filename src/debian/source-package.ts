/**
 * Debian source packages: the exact source a binary package was built
 * from, fetched through apt (its files are checked against the archive's
 * signed Sources index) and unpacked with `dpkg-source -x` (which checks
 * them against the .dsc and applies Debian's patches). For images whose
 * build step compiles a program differently from Debian's binary (crun,
 * static and without libsystemd), at the version the lock or the archive
 * gives the binary package.
 */
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { CoracleError } from '../errors.js';
import { AptArchive, MissingVersionError, type ResolvedPackage } from './apt.js';
import { withDirLock } from './lock.js';
import { parseDeb822Sources } from './sources.js';

export interface SourceVersion {
  name: string;
  version: string;
}

/**
 * The source name and version of a binary package, from its `Source:`
 * field (`name`, or `name (version)` for a binary-only rebuild).
 */
export function sourceOfBinary(binary: { name: string; version: string }, sourceField: string | undefined): SourceVersion {
  if (!sourceField) return { name: binary.name, version: binary.version };
  const m = /^(\S+)(?:\s+\(([^)]+)\))?$/.exec(sourceField.trim());
  if (!m) throw new CoracleError(`Debian package ${binary.name} ${binary.version}: unreadable Source field "${sourceField}"`);
  return { name: m[1]!, version: m[2] ?? binary.version };
}

/** The deb stanzas of a sources file as deb-src ones (the same archives, suites and keys). */
export function debSrcSources(text: string): string {
  const blocks = text.split(/\n\s*\n/).filter((b) => parseDeb822Sources(b).some((s) => s.types.includes('deb')));
  return blocks.map((b) => b.replace(/^Types:.*$/im, 'Types: deb-src').trim()).join('\n\n') + '\n';
}

/**
 * A second apt state beside the binary one, over the same archives as
 * deb-src (only builds that ask for sources pay for the Sources indices).
 */
export class SourceArchive {
  private apt?: AptArchive;

  constructor(private readonly binary: AptArchive) {}

  private async archive(): Promise<AptArchive> {
    if (this.apt) return this.apt;
    await this.binary.prepare();
    const file = join(this.binary.cacheDir, 'deb-src.sources');
    const text = debSrcSources(await this.binary.sourcesText());
    await mkdir(this.binary.cacheDir, { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, file);
    const apt = this.binary.sibling(file);
    // before fetch takes the cache lock: prepare takes it too, and it is not re-entrant
    await apt.prepare();
    this.apt = apt;
    return apt;
  }

  /** Which source a resolved binary package came from. */
  async sourceOf(p: ResolvedPackage): Promise<SourceVersion> {
    return sourceOfBinary(p, await this.binary.field(p, 'Source'));
  }

  /** The source package's files (.dsc first), downloaded once into the cache, whole or not at all. */
  async fetch(src: SourceVersion, forBinary: ResolvedPackage): Promise<string[]> {
    const apt = await this.archive();
    const dir = join(this.binary.cacheDir, 'sources', `${src.name}_${src.version.replace(/:/g, '%3a')}`);
    const listed = async () => (await readdir(dir)).sort((a, b) => Number(b.endsWith('.dsc')) - Number(a.endsWith('.dsc')) || (a < b ? -1 : 1)).map((f) => join(dir, f));
    if (await stat(dir).then((s) => s.isDirectory(), () => false)) return listed();
    await withDirLock(join(this.binary.cacheDir, '.lock'), async () => {
      if (await stat(dir).then((s) => s.isDirectory(), () => false)) return;
      const tmp = `${dir}.partial-${process.pid}`;
      await rm(tmp, { recursive: true, force: true });
      await mkdir(tmp, { recursive: true });
      try {
        const r = await apt.run(['source', '--download-only', '-q', `${src.name}=${src.version}`], tmp);
        if (r.exitCode !== 0) {
          if (/Can not find version|Unable to find a source package/i.test(r.stderr)) throw new MissingVersionError(forBinary, `${apt.describe()} (source ${src.name} ${src.version})`);
          throw new CoracleError(`downloading Debian source ${src.name} ${src.version} from ${apt.describe()} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        }
        if (!(await readdir(tmp)).some((f) => f.endsWith('.dsc'))) throw new CoracleError(`apt-get source ${src.name}=${src.version} gave no .dsc`);
        await rename(tmp, dir);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });
    return listed();
  }
}

/** Unpack a source package (its .dsc) into `dest` (which must not exist), Debian's patches applied. */
export async function unpackSource(dsc: string, dest: string): Promise<void> {
  const r = await execa('dpkg-source', ['--no-copy', '-x', dsc, dest], { stdin: 'ignore', reject: false, env: { LC_ALL: 'C.UTF-8' } }).catch((e: NodeJS.ErrnoException) => ({
    exitCode: -1,
    stderr: e.code === 'ENOENT' ? 'dpkg-source not found (install dpkg-dev)' : e.message,
  }));
  if (r.exitCode !== 0) throw new CoracleError(`unpacking ${dsc}: ${String(r.stderr).trim().split('\n').slice(-3).join(' | ')}`);
}

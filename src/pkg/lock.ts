/**
 * An image definition's lock file, images/NAME/build.lock: the Debian
 * packages its build.yml resolved to (name, version, architecture, .deb
 * sha256). `coracle pkg lock` writes it; `pkg build` then takes exactly those
 * packages instead of what the archive serves today, so two machines with the
 * same lock build the same bytes.
 */
import { readFile } from 'node:fs/promises';
import { writeWhole } from '../files/write-whole.js';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { CoracleError } from '../errors.js';
import type { ResolvedPackage } from '../debian/apt.js';
import type { PackageDefinition } from './definition.js';

export const PACKAGE_LOCK_FILE = 'build.lock';
export const PACKAGE_LOCK_VERSION = 1;

/** What the lock was resolved from: if build.yml asks for something else, the lock is stale. */
export interface LockRequest {
  packages: string[];
  dependencies: boolean;
}

export interface PackageLock {
  lockVersion: number;
  platform: string;
  request: LockRequest;
  packages: Array<Required<Pick<ResolvedPackage, 'name' | 'version' | 'architecture' | 'sha256'>>>;
}

export function lockPath(def: PackageDefinition): string {
  return join(def.dir, PACKAGE_LOCK_FILE);
}

/** `images/getty/build.lock`, as the user named the folder. */
export function lockDisplayPath(def: PackageDefinition): string {
  return def.displayFile.replace(/[^/]*$/, PACKAGE_LOCK_FILE);
}

export function lockRequest(def: PackageDefinition): LockRequest {
  const d = def.data.debian;
  return { packages: [...(d?.packages ?? [])], dependencies: d?.dependencies !== false };
}

export function sameRequest(a: LockRequest, b: LockRequest): boolean {
  return a.dependencies === b.dependencies && a.packages.length === b.packages.length && a.packages.every((p, i) => p === b.packages[i]);
}

/** The lock of a definition, or undefined when it has none. */
export async function readPackageLock(def: PackageDefinition): Promise<PackageLock | undefined> {
  const shown = lockDisplayPath(def);
  let text: string;
  try {
    text = await readFile(lockPath(def), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CoracleError(`cannot read ${shown}: ${(e as Error).message}`);
  }
  let doc: Partial<PackageLock> | undefined;
  try {
    doc = parse(text) as Partial<PackageLock>;
  } catch (e) {
    throw new CoracleError(`${shown}: not YAML (${(e as Error).message.split('\n')[0]}); write it again with \`coracle pkg lock --update\``);
  }
  const pkgOk = (p: unknown) => {
    const q = p as Record<string, unknown>;
    return q && ['name', 'version', 'architecture'].every((k) => typeof q[k] === 'string') && typeof q.sha256 === 'string' && /^[0-9a-f]{64}$/.test(q.sha256);
  };
  if (
    !doc ||
    doc.lockVersion !== PACKAGE_LOCK_VERSION ||
    typeof doc.platform !== 'string' ||
    !doc.request ||
    !Array.isArray(doc.request.packages) ||
    typeof doc.request.dependencies !== 'boolean' ||
    !Array.isArray(doc.packages) ||
    !doc.packages.every(pkgOk)
  )
    throw new CoracleError(`${shown}: not a package lock of version ${PACKAGE_LOCK_VERSION}; write it again with \`coracle pkg lock --update ${def.dir}\``);
  return doc as PackageLock;
}

export async function writePackageLock(def: PackageDefinition, lock: PackageLock): Promise<void> {
  const file = lockPath(def);
  const text = `# Written by \`coracle pkg lock\`: the Debian packages ${def.name}'s build.yml resolved to.\n# \`coracle pkg build\` uses exactly these; \`coracle pkg lock --update\` resolves again.\n${stringify(lock, { lineWidth: 0 })}`;
  await writeWhole(file, text, lockDisplayPath(def));
}

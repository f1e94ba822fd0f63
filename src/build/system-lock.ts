/**
 * A system's lock file, NAME.lock.yml beside the spec: the digest every image
 * reference of the spec resolved to (tags, `@pkg:` folders). `--lock` writes
 * it; `--locked` builds from exactly those digests, or fails naming the image.
 */
import { readFile } from 'node:fs/promises';
import { writeWhole } from '../files/write-whole.js';
import { dirname, join, resolve } from 'node:path';
import { CoracleError } from '../errors.js';
import { canonicalReference, formatReference, parseReference } from '../oci/ref.js';
import { absolutePkgRef, isPkgRef, relativePkgRef } from '../spec/pkg-ref.js';

export const SYSTEM_LOCK_VERSION = 1;

export interface LockedImage {
  /** The reference as the spec writes it (`@pkg:` paths relative to the lock file). */
  image: string;
  /** The store reference it resolved to (`docker.io/coracle/getty:TAG`). */
  reference: string;
  /** Digest of what the reference named (index or manifest). */
  digest: string;
  mediaType: string;
}

/** `examples/web.yml` -> `examples/web.lock.yml` (the build name decides the file name). */
export function systemLockPath(specFile: string, name: string): string {
  return join(dirname(resolve(specFile)), `${name}.lock.yml`);
}

/** The spec reference a lock entry stands for, comparable with parsed spec refs. */
function specKey(image: string, lockDir: string): string {
  if (isPkgRef(image)) return absolutePkgRef(image, join(lockDir, 'lock'));
  try {
    return canonicalReference(image);
  } catch {
    return image;
  }
}

export function lockKey(ref: string): string {
  return isPkgRef(ref) ? ref : specKey(ref, '/');
}

export async function writeSystemLock(file: string, images: LockedImage[], specName: string): Promise<void> {
  const dir = dirname(file);
  const body = {
    lockfileVersion: SYSTEM_LOCK_VERSION,
    images: images.map((i) => ({ ...i, image: isPkgRef(i.image) ? relativePkgRef(i.image, dir) : i.image })),
  };
  const text = `# Written by \`coracle build --lock\` from ${specName}: the image each reference resolved to.\n# \`coracle build --locked\` builds from exactly these digests.\n${(await import('yaml')).stringify(body, { lineWidth: 0 })}`;
  await writeWhole(file, text);
}

export async function readSystemLock(file: string): Promise<Map<string, LockedImage>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CoracleError(`--locked: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (write it with \`coracle build --lock\`)`);
  }
  let doc: unknown;
  try {
    doc = (await import('yaml')).parse(text);
  } catch (e) {
    throw new CoracleError(`${file}: not YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const d = doc as { lockfileVersion?: unknown; images?: unknown };
  if (!d || typeof d !== 'object' || d.lockfileVersion !== SYSTEM_LOCK_VERSION || !Array.isArray(d.images))
    throw new CoracleError(`${file}: not a Coracle system lock (lockfileVersion ${SYSTEM_LOCK_VERSION} with a list of images)`);
  const out = new Map<string, LockedImage>();
  d.images.forEach((raw: unknown, i: number) => {
    const e = raw as Partial<LockedImage>;
    const ok = e && typeof e.image === 'string' && typeof e.reference === 'string' && typeof e.mediaType === 'string' && typeof e.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(e.digest);
    if (!ok) throw new CoracleError(`${file}: images[${i}] needs image, reference, mediaType and a sha256 digest`);
    out.set(specKey(e.image!, dirname(file)), e as LockedImage);
  });
  return out;
}

/** The reference that fetches exactly the locked content: repository@digest. */
export function lockedTarget(l: LockedImage): string {
  const r = parseReference(l.reference);
  return formatReference({ registry: r.registry, repository: r.repository, digest: l.digest });
}

import { endianness } from 'node:os';
import { CoracleError } from '../errors.js';
import type { Descriptor, ImageIndex, Platform } from './types.js';

/** Architecture spellings from uname, Debian and Node, normalised to OCI (GOARCH) names. */
const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
  i386: { architecture: '386' },
  i686: { architecture: '386' },
  x32: { architecture: '386' },
};

/** Variants that mean the same as none (containerd's normalisation). */
function normalVariant(architecture: string, variant: string | undefined): string {
  const v = variant ?? '';
  if (architecture === 'arm64' && (v === '' || v === 'v8' || v === '8')) return 'v8';
  if (architecture === 'amd64' && (v === '' || v === 'v1')) return '';
  if (architecture === 'arm' && v === '') return 'v7';
  if (/^\d+$/.test(v)) return `v${v}`;
  return v;
}

function normalArch(os: string, architecture: string, variant?: string): Platform {
  const alias = ARCH_ALIASES[architecture];
  const arch = alias?.architecture ?? architecture;
  const v = variant ?? alias?.variant;
  return { os, architecture: arch, ...(v ? { variant: v } : {}) };
}

/** Parse `os/arch[/variant]` (e.g. `linux/arm64/v8`); CoracleError on anything else. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().split('/');
  const bad = (why: string) =>
    new CoracleError(`invalid platform "${text}": ${why} (expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8)`);
  if (parts.length < 2 || parts.length > 3) throw bad(parts.length < 2 ? 'missing architecture' : 'too many parts');
  for (const p of parts) {
    if (p === '') throw bad('empty part');
    if (!/^[a-z0-9_.-]+$/i.test(p)) throw bad(`"${p}" has characters other than letters, digits, ".", "_" and "-"`);
  }
  const [os, arch, variant] = parts.map((p) => p.toLowerCase()) as [string, string, string | undefined];
  return normalArch(os, arch, variant);
}

/** `linux/arm64/v8` */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The platform of this machine in OCI terms (Node's x64 is amd64, arm64 is arm64/v8 ...). */
export function hostPlatform(arch: string = process.arch, os: string = process.platform): Platform {
  const ociOs = os === 'win32' ? 'windows' : os;
  switch (arch) {
    case 'x64':
      return { os: ociOs, architecture: 'amd64' };
    case 'arm64':
      return { os: ociOs, architecture: 'arm64', variant: 'v8' };
    case 'arm': {
      const vars = (process.config?.variables ?? {}) as { arm_version?: string | number };
      const v = vars.arm_version !== undefined ? `v${vars.arm_version}` : 'v7';
      return { os: ociOs, architecture: 'arm', variant: v };
    }
    case 'ia32':
      return { os: ociOs, architecture: '386' };
    case 'ppc64':
      return { os: ociOs, architecture: endianness() === 'LE' ? 'ppc64le' : 'ppc64' };
    case 'mips':
    case 'mipsel':
    case 'riscv64':
    case 's390x':
    case 'loong64':
    default:
      return { os: ociOs, architecture: arch };
  }
}

/**
 * Does `candidate` (from an index or config) satisfy `wanted`? OS and
 * architecture must be equal (after normalising aliases); a wanted variant
 * must equal the candidate's (arm64 "" = v8, amd64 "" = v1, arm "" = v7);
 * no wanted variant accepts any.
 */
export function platformMatches(candidate: Platform, wanted: Platform): boolean {
  const c = normalArch(candidate.os, candidate.architecture, candidate.variant);
  const w = normalArch(wanted.os, wanted.architecture, wanted.variant);
  if (c.os !== w.os || c.architecture !== w.architecture) return false;
  if (w.variant === undefined || w.variant === '') return true;
  return normalVariant(c.architecture, c.variant) === normalVariant(w.architecture, w.variant);
}

/** Attestations and other non-image entries an index may list beside the images. */
function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}

/**
 * Pick the manifest for a platform out of an index. Exact variant matches
 * win over looser ones. CoracleError names the image (`what`) and lists the
 * platforms it does have.
 */
export function selectManifest(index: ImageIndex, p: Platform, what: string): Descriptor {
  const images = index.manifests.filter((d) => !isAttestation(d));
  const matches = images.filter((d) => d.platform !== undefined && platformMatches(d.platform, p));
  if (matches.length > 0) {
    const want = normalVariant(normalArch(p.os, p.architecture).architecture, p.variant);
    const exact = matches.find((d) => normalVariant(d.platform!.architecture, d.platform!.variant) === want);
    return exact ?? matches[0]!;
  }
  // An index with one entry that declares no platform: take it (single-image layouts).
  if (images.length === 1 && images[0]!.platform === undefined) return images[0]!;
  const have = images.map((d) => (d.platform ? formatPlatform(d.platform) : 'unspecified'));
  const list = have.length > 0 ? [...new Set(have)].join(', ') : 'none';
  throw new CoracleError(`${what}: no image for platform ${formatPlatform(p)}; available: ${list}`);
}

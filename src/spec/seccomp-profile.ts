/**
 * `seccomp: FILE.json` in a spec entry: an OCI `linux.seccomp` object (the
 * shape runc and crun read, and Docker's `--security-opt seccomp=` files
 * without their Docker-only keys), read relative to the spec that names it
 * and checked here, so a bad profile fails the build at its own line:col
 * rather than the container at boot.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import type { SourceDiagnostic } from '../errors.js';
import { basePathOf, locationIn } from './locators.js';
import { at, issuesToDiagnostics } from './messages.js';
import { isSeccompProfilePath } from './rules.js';
import { parseYaml } from './source.js';
import type { ImageEntry, SystemSpec } from './types.js';

const ACTIONS = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
] as const;
const OPERATORS = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'] as const;
const FLAGS = ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] as const;
/** libseccomp's names of the architectures an x86-64 kernel runs. */
const ARCHES = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] as const;

/** A syscall argument is 64 bits; JSON numbers are exact up to 2^53. */
const u64 = z.int().min(0).max(Number.MAX_SAFE_INTEGER);
const errno = z.int().min(0).max(4095);

const syscall = z.strictObject({
  names: z
    .array(z.string().regex(/^[a-z_][a-z0-9_]*$/, 'a system call name is lower-case letters, digits and "_"'))
    .superRefine((n, ctx) => {
      if (n.length === 0) ctx.addIssue({ code: 'custom', message: 'list at least one system call name' });
    }),
  action: z.enum(ACTIONS),
  errnoRet: errno.optional(),
  args: z
    .array(z.strictObject({ index: z.int().min(0).max(5), value: u64, valueTwo: u64.optional(), op: z.enum(OPERATORS) }))
    .max(6)
    .optional(),
});

export const seccompProfileSchema = z
  .strictObject({
    defaultAction: z.enum(ACTIONS),
    defaultErrnoRet: errno.optional(),
    architectures: z.array(z.enum(ARCHES)).optional(),
    flags: z.array(z.enum(FLAGS)).optional(),
    listenerPath: z.string().optional(),
    listenerMetadata: z.string().optional(),
    syscalls: z.array(syscall).optional(),
  })
  .superRefine((p, ctx) => {
    // runc and crun refuse a notify action without an agent to notify
    const notifies = p.defaultAction === 'SCMP_ACT_NOTIFY' || (p.syscalls ?? []).some((s) => s.action === 'SCMP_ACT_NOTIFY');
    if (notifies && !p.listenerPath) ctx.addIssue({ code: 'custom', path: [], message: 'SCMP_ACT_NOTIFY needs a "listenerPath"' });
  });

/** Where a spec's relative profile path points: beside the spec (standard input: the working directory). */
function profilePath(entry: ImageEntry, value: string): string {
  if (isAbsolute(value)) return value;
  const file = entry.loc.file;
  return file === '-' ? resolve(value) : resolve(dirname(file), value);
}

/**
 * Read and check every profile file the spec's entries name, storing each on
 * its entry (`seccompProfile`). Returns the problems: the spec's own line:col
 * for a missing file, the profile's line:col for a bad one.
 */
export async function loadSeccompProfiles(spec: SystemSpec): Promise<SourceDiagnostic[]> {
  const out: SourceDiagnostic[] = [];
  const cache = new Map<string, Promise<string>>();
  for (const entry of [...spec.onboot, ...spec.onshutdown, ...spec.services]) {
    const value = entry.seccomp;
    if (value === undefined || !isSeccompProfilePath(value)) continue;
    const path = profilePath(entry, value);
    let text: string;
    try {
      let p = cache.get(path);
      if (p === undefined) cache.set(path, (p = readFile(path, 'utf8')));
      text = await p;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
      const here = locationIn(entry, ['seccomp'], entry.fieldLocs?.seccomp ?? entry.loc);
      out.push({ ...here, severity: 'error', message: at([...basePathOf(entry), 'seccomp'], `cannot read seccomp profile ${path}: ${why}`) });
      continue;
    }
    const src = parseYaml(text, path);
    const syntax = src.diagnostics.filter((d) => d.severity === 'error');
    if (syntax.length > 0) {
      out.push(...syntax);
      continue;
    }
    const r = seccompProfileSchema.safeParse(src.value);
    if (!r.success) {
      out.push(...issuesToDiagnostics(src, src.value, r.error.issues, seccompProfileSchema));
      continue;
    }
    entry.seccompProfile = r.data;
  }
  return out;
}

import { z } from 'zod';
import {
  capabilityListProblems,
  containerNameProblem,
  imageRefProblem,
  mountProblem,
  namespaceProblem,
  parseBind,
  parseOctalMode,
  platformProblem,
  isSeccompProfilePath,
  rlimitProblem,
  durationProblem,
  RESTART_POLICIES,
  ROOTFS_PROPAGATIONS,
  seccompProblem,
  tmpfsProblem,
  VOLUME_NAME,
} from './rules.js';

/**
 * Zod schemas of the spec as written (YAML keys, plain JSON values): LinuxKit's
 * JSON schema (src/cmd/linuxkit/moby/schema.go), strict about unknown keys,
 * plus the value rules LinuxKit only checks when it builds.
 * `convert.ts` turns a value these accept into the types of `types.ts`.
 */

type Problem = (v: string) => string | undefined;

/** A string checked by a rule; the rule's message becomes the issue. */
function checked(problem: Problem) {
  return z.string().superRefine((v, ctx) => {
    const m = problem(v);
    if (m) ctx.addIssue({ code: 'custom', message: m });
  });
}

function checkedList(problem: Problem) {
  return z.array(checked(problem));
}

const strings = z.array(z.string());
const mapString = z.record(z.string(), z.string());
const int = z.int();
/** uid/gid: a number, or the name of a container (LinuxKit allocates each an id) or `root`. */
const id = z.union([z.int().min(0), z.string()]);

export const imageRefSchema = checked(imageRefProblem);

const idMapping = z.strictObject({
  hostID: int.optional(),
  containerID: int.optional(),
  size: int.optional(),
});

export const mountSchema = z.strictObject({
  destination: z.string().optional(),
  type: z.string().optional(),
  source: z.string().optional(),
  options: strings.optional(),
  uidmappings: z.array(idMapping).optional(),
  gidmappings: z.array(idMapping).optional(),
});

/** A container mount (not a runtime one): LinuxKit must be able to complete its type and destination. */
const containerMount = mountSchema.superRefine((m, ctx) => {
  const p = mountProblem(m);
  if (p) ctx.addIssue({ code: 'custom', message: p.message });
});

const device = z
  .strictObject({
    path: z.string().optional(),
    type: z.string().optional(),
    major: int.optional(),
    minor: int.optional(),
    mode: z.string().optional(),
  })
  .superRefine((d, ctx) => {
    if (d.type !== undefined && !['c', 'b', 'u', 'p', 'a'].includes(d.type))
      ctx.addIssue({ code: 'custom', path: ['type'], message: `invalid device type "${d.type}": expected c, b, u, p or a` });
    if (d.path === 'all') return;
    if (d.path === undefined || !d.path.startsWith('/'))
      ctx.addIssue({ code: 'custom', path: d.path === undefined ? [] : ['path'], message: 'a device needs an absolute "path" (or "all")' });
    if (d.mode === undefined || parseOctalMode(d.mode) === undefined)
      ctx.addIssue({
        code: 'custom',
        path: d.mode === undefined ? [] : ['mode'],
        message: d.mode === undefined ? 'a device needs a "mode" such as "0666"' : `invalid device mode "${d.mode}": expected an octal string such as "0666"`,
      });
  });

const resources = z.strictObject({
  devices: z
    .array(
      z.strictObject({
        allow: z.boolean().optional(),
        type: z.string().optional(),
        major: int.optional(),
        minor: int.optional(),
        access: z.string().optional(),
      }),
    )
    .optional(),
  memory: z
    .strictObject({
      limit: int.optional(),
      reservation: int.optional(),
      swap: int.optional(),
      kernel: int.optional(),
      kernelTCP: int.optional(),
      swappiness: int.optional(),
      disableOOMKiller: z.boolean().optional(),
    })
    .optional(),
  cpu: z
    .strictObject({
      shares: int.optional(),
      quota: int.optional(),
      period: int.optional(),
      realtimeRuntime: int.optional(),
      realtimePeriod: int.optional(),
      cpus: z.string().optional(),
      mems: z.string().optional(),
    })
    .optional(),
  pids: z.strictObject({ limit: int.optional() }).optional(),
  blockio: z
    .strictObject({
      weight: int.optional(),
      leafWeight: int.optional(),
      weightDevice: z
        .array(z.strictObject({ major: int.optional(), minor: int.optional(), weight: int.optional(), leafWeight: int.optional() }))
        .optional(),
      throttleReadBpsDevice: z.array(z.strictObject({ major: int.optional(), minor: int.optional(), rate: int.optional() })).optional(),
      throttleWriteBpsDevice: z.array(z.strictObject({ major: int.optional(), minor: int.optional(), rate: int.optional() })).optional(),
      throttleReadIOPSDevice: z.array(z.strictObject({ major: int.optional(), minor: int.optional(), rate: int.optional() })).optional(),
      throttleWriteIOPSDevice: z.array(z.strictObject({ major: int.optional(), minor: int.optional(), rate: int.optional() })).optional(),
    })
    .optional(),
  hugepageLimits: z.array(z.strictObject({ pageSize: int.optional(), limit: int.optional() })).optional(),
  network: z
    .strictObject({
      classID: int.optional(),
      priorities: z.array(z.strictObject({ name: z.string().optional(), priority: int.optional() })).optional(),
    })
    .optional(),
});

const runtime = z.strictObject({
  cgroups: strings.optional(),
  mounts: z.array(mountSchema).optional(),
  mkdir: strings.optional(),
  interfaces: z
    .array(
      z.strictObject({
        name: z.string().optional(),
        add: z.string().optional(),
        peer: z.string().optional(),
        createInRoot: z.boolean().optional(),
      }),
    )
    .optional(),
  bindNS: z
    .strictObject({
      cgroup: z.string().optional(),
      ipc: z.string().optional(),
      mnt: z.string().optional(),
      net: z.string().optional(),
      pid: z.string().optional(),
      user: z.string().optional(),
      uts: z.string().optional(),
    })
    .optional(),
  namespace: z.string().optional(),
});

function capabilities(allowAllNone: boolean) {
  return strings.superRefine((caps, ctx) => {
    for (const p of capabilityListProblems(caps, allowAllNone)) ctx.addIssue({ code: 'custom', path: [p.index], message: p.message });
  });
}

function namespace(key: string) {
  return checked((v) => namespaceProblem(key, v));
}

/** Every per-container key except name and image, with its YAML spelling. */
export const imageConfigShape = {
  capabilities: capabilities(true).optional(),
  'capabilities.add': capabilities(false).optional(),
  ambient: capabilities(true).optional(),
  mounts: z.array(containerMount).optional(),
  binds: checkedList((b) => {
    const r = parseBind(b);
    return typeof r === 'string' ? r : undefined;
  }).optional(),
  'binds.add': checkedList((b) => {
    const r = parseBind(b);
    return typeof r === 'string' ? r : undefined;
  }).optional(),
  devices: z.array(device).optional(),
  tmpfs: checkedList(tmpfsProblem).optional(),
  command: strings.optional(),
  env: strings.optional(),
  cwd: z.string().optional(),
  net: namespace('net').optional(),
  pid: namespace('pid').optional(),
  ipc: namespace('ipc').optional(),
  uts: namespace('uts').optional(),
  userns: namespace('userns').optional(),
  hostname: z.string().optional(),
  readonly: z.boolean().optional(),
  maskedPaths: strings.optional(),
  readonlyPaths: strings.optional(),
  uid: id.optional(),
  gid: id.optional(),
  additionalGids: z.array(id).optional(),
  noNewPrivileges: z.boolean().optional(),
  seccomp: checked(seccompProblem).optional(),
  oomScoreAdj: z.int().min(-1000).max(1000).optional(),
  rootfsPropagation: z.enum(ROOTFS_PROPAGATIONS as [string, ...string[]]).optional(),
  cgroupsPath: z.string().optional(),
  resources: resources.optional(),
  sysctl: mapString.optional(),
  rlimits: checkedList(rlimitProblem).optional(),
  uidMappings: z.array(idMapping).optional(),
  gidMappings: z.array(idMapping).optional(),
  annotations: mapString.optional(),
  runtime: runtime.optional(),
};

export const imageEntrySchema = z.strictObject({
  name: checked(containerNameProblem),
  image: imageRefSchema,
  ...imageConfigShape,
});

/**
 * Coracle's per-section keys (the spec's, never an image label's): a
 * service's `restart:` policy and `stop_timeout:` (SIGTERM to SIGKILL at
 * shutdown), an onboot or onshutdown container's `timeout:` (a duration,
 * after which it is killed).
 */
const restartPolicy = z.unknown().superRefine((v, ctx) => {
  if (typeof v !== 'string' || !(RESTART_POLICIES as readonly string[]).includes(v))
    ctx.addIssue({
      code: 'custom',
      message:
        `invalid restart policy ${typeof v === 'string' ? `"${v}"` : JSON.stringify(v)}: expected ${RESTART_POLICIES.map((p) => `"${p}"`).join(', ')}` +
        // a YAML 1.1 reader takes an unquoted no for false
        (typeof v === 'boolean' ? ' (quote "no")' : ''),
    });
}).transform((v) => v as (typeof RESTART_POLICIES)[number]);

const phaseTimeout = z.unknown().superRefine((v, ctx) => {
  const m = durationProblem(v);
  if (m) ctx.addIssue({ code: 'custom', message: m });
}).transform((v) => v as string);

const stopTimeout = z.unknown().superRefine((v, ctx) => {
  const m = durationProblem(v, 'stop_timeout');
  if (m) ctx.addIssue({ code: 'custom', message: m });
}).transform((v) => v as string);

export const serviceEntrySchema = z.strictObject({
  ...imageEntrySchema.shape,
  restart: restartPolicy.optional(),
  stop_timeout: stopTimeout.optional(),
});

export const phaseEntrySchema = z.strictObject({
  ...imageEntrySchema.shape,
  timeout: phaseTimeout.optional(),
});

/** The `org.mobyproject.config` label: the same keys, but name and image belong to the spec. */
export const imageLabelSchema = z.strictObject({
  name: z.unknown().optional(),
  image: z.unknown().optional(),
  ...imageConfigShape,
}).superRefine((v, ctx) => {
  for (const k of ['name', 'image'] as const)
    if (v[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `"${k}" cannot be set in an image label` });
  // A label travels with the image, away from any file it could name.
  if (typeof v.seccomp === 'string' && seccompProblem(v.seccomp) === undefined && isSeccompProfilePath(v.seccomp))
    ctx.addIssue({ code: 'custom', path: ['seccomp'], message: `an image label cannot name a profile file: seccomp is default or unconfined` });
});

export const kernelSchema = z.strictObject({
  image: imageRefSchema.optional(),
  cmdline: z.string().optional(),
  binary: z.string().optional(),
  tar: z.string().optional(),
  ucode: z.string().optional(),
  /** Coracle: the modules the initrd carries besides the init's boot set, or `all` for the whole kernel.tar. */
  modules: z.union([z.literal('all'), z.array(z.string().min(1, 'a module name'))]).optional(),
});

/**
 * File modes are octal strings. YAML reads an unquoted 0644 as a number (420
 * with LinuxKit's go-yaml), a classic trap, so say so rather than just
 * "expected a string".
 */
const fileMode = z
  .unknown()
  .superRefine((m, ctx) => {
    if (typeof m === 'number')
      ctx.addIssue({ code: 'custom', message: `mode must be a quoted octal string such as "0644" (unquoted, YAML reads it as the number ${m})` });
    else if (typeof m !== 'string') ctx.addIssue({ code: 'custom', message: 'mode must be a quoted octal string such as "0644"' });
    else if (parseOctalMode(m) === undefined) ctx.addIssue({ code: 'custom', message: `invalid mode "${m}": expected an octal string such as "0644"` });
  })
  .transform((m) => m as string);

export const fileSchema = z.strictObject({
  path: z.string().min(1),
  directory: z.boolean().optional(),
  symlink: z.string().optional(),
  contents: z.string().optional(),
  source: z.string().optional(),
  metadata: z.enum(['yaml', 'json']).optional(),
  optional: z.boolean().optional(),
  mode: fileMode.optional(),
  uid: id.optional(),
  gid: id.optional(),
});

export const volumeSchema = z.strictObject({
  name: checked((n) =>
    VOLUME_NAME.test(n) ? undefined : `invalid volume name "${n}": use lower-case letters, digits, "_" and "-"`,
  ),
  image: imageRefSchema.optional(),
  readonly: z.boolean().optional(),
  format: z.enum(['filesystem', 'oci']).optional(),
  platforms: checkedList(platformProblem).optional(),
});

export const trustSchema = z.strictObject({
  image: strings.optional(),
  org: strings.optional(),
});

/** The guest's OCI runtime (a Coracle key, not LinuxKit's). */
export const runtimeSchema = z.enum(['crun', 'runc']);

/** What becomes of an entry kind in image layers (`layers:`, a Coracle key). */
export const LAYER_TREATMENTS = ['keep', 'drop', 'refuse'] as const;

/** `layers:`: device nodes and setuid/setgid files in image layers (a Coracle key). */
export const layersSchema = z.strictObject({
  devices: z.enum(LAYER_TREATMENTS).optional(),
  setuid: z.enum(LAYER_TREATMENTS).optional(),
});

export const systemSpecSchema = z.strictObject({
  kernel: kernelSchema.optional(),
  init: z.array(imageRefSchema).optional(),
  onboot: z.array(phaseEntrySchema).optional(),
  onshutdown: z.array(phaseEntrySchema).optional(),
  services: z.array(serviceEntrySchema).optional(),
  files: z.array(fileSchema).optional(),
  volumes: z.array(volumeSchema).optional(),
  trust: trustSchema.optional(),
  runtime: runtimeSchema.optional(),
  layers: layersSchema.optional(),
});

export type RawSystemSpec = z.infer<typeof systemSpecSchema>;
export type RawImageEntry = z.infer<typeof imageEntrySchema> & { restart?: z.infer<typeof serviceEntrySchema>['restart']; timeout?: string; stop_timeout?: string };
export type RawImageLabel = z.infer<typeof imageLabelSchema>;
export type RawFile = z.infer<typeof fileSchema>;
export type RawVolume = z.infer<typeof volumeSchema>;
export type RawKernel = z.infer<typeof kernelSchema>;
export type RawMount = z.infer<typeof mountSchema>;

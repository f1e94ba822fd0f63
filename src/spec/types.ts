/**
 * The parsed form of a LinuxKit-format system spec, shared by every later
 * stage (assembler, runtime-config generator, CLI). Field names follow
 * LinuxKit's `moby.Moby` / `moby.Image` / `moby.ImageConfig` / `moby.Runtime`
 * Go structs and its JSON schema; where a YAML key is not a valid identifier
 * (`capabilities.add`, `binds.add`) it becomes a separate camelCase field so
 * the runtime generator can apply LinuxKit's semantics:
 *   capabilities = spec.capabilities ?? unique(label.capabilities ++ spec.capabilitiesAdd)
 *   binds        = spec.binds        ?? unique(label.binds        ++ spec.bindsAdd)
 * (a plain key in the spec replaces what the image label says, `.add` appends).
 *
 * An absent optional field means "not set" (so the image label or the image
 * config may provide it), never "empty".
 *
 * Least privilege by default (beyond LinuxKit): a container's root is
 * read-only unless `readonly: false`, `noNewPrivileges` is on unless
 * `noNewPrivileges: false`, `seccomp` is `default` unless `unconfined` or a
 * profile file, and it holds no capability the spec or label does not name.
 */
import type { Seccomp } from '../runtime/types.js';

/** Where something was declared: 1-based line and column in `file`. */
export interface SourceLocation {
  file: string;
  line: number;
  col: number;
}

/**
 * A uid/gid: a number, or (as in LinuxKit) the name of a container in onboot,
 * onshutdown or services, meaning the id LinuxKit allocates to that container
 * (100, 101, ... in onboot, onshutdown, services order); `root` or "" is 0.
 * The spec validator checks that such names exist.
 */
export type IdValue = number | string;

/** OCI runtime-spec LinuxIDMapping. */
export interface IdMapping {
  containerID?: number;
  hostID?: number;
  size?: number;
}

/**
 * OCI runtime-spec Mount as LinuxKit reads it. In YAML the id mapping keys are
 * written `uidmappings` / `gidmappings` (LinuxKit decodes specs.Mount with
 * lower-cased field names); here they carry the OCI names.
 */
export interface MountSpec {
  destination?: string;
  type?: string;
  source?: string;
  options?: string[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
}

/** A device node to create in the container (`devices:`); path `all` allows a whole type in the cgroup. */
export interface DeviceSpec {
  path?: string;
  /** `c`, `b`, `u` or `p`. */
  type?: string;
  major?: number;
  minor?: number;
  /** Octal file mode as written, e.g. "0666". */
  mode?: string;
}

/** OCI LinuxDeviceCgroup. */
export interface DeviceCgroupSpec {
  allow?: boolean;
  type?: string;
  major?: number;
  minor?: number;
  access?: string;
}

export interface MemoryResources {
  limit?: number;
  reservation?: number;
  swap?: number;
  kernel?: number;
  kernelTCP?: number;
  swappiness?: number;
  disableOOMKiller?: boolean;
}

export interface CpuResources {
  shares?: number;
  quota?: number;
  period?: number;
  realtimeRuntime?: number;
  realtimePeriod?: number;
  cpus?: string;
  mems?: string;
}

export interface WeightDevice {
  major?: number;
  minor?: number;
  weight?: number;
  leafWeight?: number;
}

export interface ThrottleDevice {
  major?: number;
  minor?: number;
  rate?: number;
}

export interface BlockIoResources {
  weight?: number;
  leafWeight?: number;
  weightDevice?: WeightDevice[];
  throttleReadBpsDevice?: ThrottleDevice[];
  throttleWriteBpsDevice?: ThrottleDevice[];
  throttleReadIOPSDevice?: ThrottleDevice[];
  throttleWriteIOPSDevice?: ThrottleDevice[];
}

export interface HugepageLimit {
  pageSize?: number;
  limit?: number;
}

export interface NetworkResources {
  classID?: number;
  priorities?: { name?: string; priority?: number }[];
}

/** OCI LinuxResources, as far as LinuxKit's schema allows. */
export interface ResourcesSpec {
  devices?: DeviceCgroupSpec[];
  memory?: MemoryResources;
  cpu?: CpuResources;
  pids?: { limit?: number };
  blockio?: BlockIoResources;
  hugepageLimits?: HugepageLimit[];
  network?: NetworkResources;
}

/** A network interface the init system creates or moves into the container's namespace. */
export interface InterfaceSpec {
  name?: string;
  /** Interface type to create, e.g. `veth`. */
  add?: string;
  peer?: string;
  createInRoot?: boolean;
}

/** Paths at which to bind-mount the container's namespaces. */
export interface BindNamespaces {
  cgroup?: string;
  ipc?: string;
  mnt?: string;
  net?: string;
  pid?: string;
  user?: string;
  uts?: string;
}

/** `runtime:`: things the init system does at run time, not part of the OCI config. */
export interface RuntimeSpec {
  cgroups?: string[];
  mounts?: MountSpec[];
  mkdir?: string[];
  interfaces?: InterfaceSpec[];
  bindNS?: BindNamespaces;
  namespace?: string;
}

/**
 * Every per-container key LinuxKit accepts, except name and image: what an
 * image's `org.mobyproject.config` label may hold.
 */
export interface ImageConfigFields {
  capabilities?: string[];
  /** YAML `capabilities.add`. */
  capabilitiesAdd?: string[];
  ambient?: string[];
  mounts?: MountSpec[];
  binds?: string[];
  /** YAML `binds.add`. */
  bindsAdd?: string[];
  devices?: DeviceSpec[];
  tmpfs?: string[];
  command?: string[];
  env?: string[];
  cwd?: string;
  net?: string;
  pid?: string;
  ipc?: string;
  uts?: string;
  userns?: string;
  hostname?: string;
  /** A read-only root; unset means true (Coracle's default, LinuxKit's is false). */
  readonly?: boolean;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  uid?: IdValue;
  gid?: IdValue;
  additionalGids?: IdValue[];
  /** Unset means true (Coracle's default). */
  noNewPrivileges?: boolean;
  /**
   * The system-call filter: `default` (when unset; the calls Docker's default
   * profile allows), `unconfined` (none), or, in a spec only, the path of an
   * OCI `linux.seccomp` JSON profile relative to the spec file.
   */
  seccomp?: string;
  oomScoreAdj?: number;
  rootfsPropagation?: string;
  cgroupsPath?: string;
  resources?: ResourcesSpec;
  sysctl?: Record<string, string>;
  rlimits?: string[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  annotations?: Record<string, string>;
  runtime?: RuntimeSpec;
}

/** The parsed `org.mobyproject.config` label of an image. */
export type ImageLabelConfig = ImageConfigFields;

/** The YAML key of each ImageConfigFields field (differs only for the `.add` keys). */
export type ImageConfigKey = keyof ImageConfigFields;

/** One container in `onboot`, `onshutdown` or `services`. */
export interface ImageEntry extends ImageConfigFields {
  name: string;
  /** The image reference exactly as written in the spec. */
  image: string;
  /** Where the entry (its list item) starts. */
  loc: SourceLocation;
  /** Where each key present in the entry was written, by field name (e.g. `capabilitiesAdd`). */
  fieldLocs?: Partial<Record<ImageConfigKey | 'name' | 'image' | 'restart' | 'timeout' | 'stop_timeout', SourceLocation>>;
  /** The profile file `seccomp` names, read and checked by loadSpecs. */
  seccompProfile?: Seccomp;
  /**
   * Coracle, services only: when the guest init starts the service again
   * after it exits; unset means `on-failure` (decided by the guest init).
   */
  restart?: RestartPolicy;
  /** Coracle, onboot and onshutdown only: a duration as written (`30s`), after which the container is killed. */
  timeout?: string;
  /**
   * Coracle, services only: a duration as written (`YAML stop_timeout:`):
   * how long the service has between SIGTERM and SIGKILL at shutdown; unset
   * means 10 s (decided by the guest init).
   */
  stopTimeout?: string;
}

export type RestartPolicy = 'no' | 'on-failure' | 'always';

export interface KernelSpec {
  /** Kernel image reference; absent when no spec file named one. */
  image?: string;
  cmdline?: string;
  /** File in the image holding the kernel (LinuxKit default `kernel`). */
  binary?: string;
  /** Tarball in the image unpacked into the root (default `kernel.tar`; `none` for no tarball). */
  tar?: string;
  /** CPU microcode cpio in the image, prepended to the initrd. */
  ucode?: string;
  /**
   * Coracle: modules the initrd carries beyond the init's boot set and
   * /etc/modules (each with its dependencies), or `all` for the kernel
   * image's whole modules tarball. Absent: the boot set and /etc/modules only.
   */
  modules?: 'all' | string[];
  /** Where each `modules` item was written (same order). */
  moduleLocs?: SourceLocation[];
  /** Where the (first) `kernel:` section starts. */
  loc: SourceLocation;
  /** Where each field was set (after merging: in the file whose value won). */
  fieldLocs?: Partial<Record<'image' | 'cmdline' | 'binary' | 'tar' | 'ucode' | 'modules', SourceLocation>>;
}

/** One entry of `files`. */
export interface FileEntry {
  /** Path in the root filesystem, as written (LinuxKit treats it as relative to /). */
  path: string;
  /** Inline contents. */
  contents?: string;
  /**
   * Host file to copy, as written (`~/` means $HOME). LinuxKit opens relative
   * paths from its working directory; `loc.file` says which spec named it.
   */
  source?: string;
  directory: boolean;
  /** Make a symlink pointing here. */
  symlink?: string;
  /** Permission bits parsed from the octal string in the spec ("0644" -> 0o644). */
  mode?: number;
  uid?: IdValue;
  gid?: IdValue;
  /** Write the whole spec into this file, as YAML or JSON. */
  metadata?: 'yaml' | 'json';
  /** A missing `source` is not an error. */
  optional: boolean;
  loc: SourceLocation;
}

/** One entry of `volumes`: a named directory shared between containers through `binds`/`mounts`. */
export interface VolumeEntry {
  name: string;
  /** Image whose contents fill the volume; blank volume when absent. */
  image?: string;
  /** Containers may only mount it read-only. */
  readonly: boolean;
  /** `oci` (image layout) or `filesystem` (unpacked, the default). */
  format?: string;
  /** Platforms (os/arch[/variant]) to pull for `format: oci`. */
  platforms?: string[];
  loc: SourceLocation;
}

/**
 * `layers:` (Coracle's key): what a build does with device nodes (char,
 * block; the harmless null, zero, full, random, urandom, tty, console and
 * ptmx are always kept) and with setuid/setgid files found in image layers. `keep`: as the
 * image has them; `drop`: devices left out, setuid/setgid bits cleared (the
 * file stays), each reported; `refuse`: the build fails naming image, layer
 * and entry. Default drop for both (see DEFAULT_LAYER_POLICY).
 */
export type LayerTreatment = 'keep' | 'drop' | 'refuse';

export interface LayerPolicy {
  devices: LayerTreatment;
  setuid: LayerTreatment;
}

export interface LayersSpec {
  devices?: LayerTreatment;
  setuid?: LayerTreatment;
  /** Where each key was written. */
  locs?: { devices?: SourceLocation; setuid?: SourceLocation };
}

export interface SystemSpec {
  kernel?: KernelSpec;
  init: string[];
  /** Where each `init` item was written, same order as `init`. */
  initLocs?: SourceLocation[];
  onboot: ImageEntry[];
  onshutdown: ImageEntry[];
  services: ImageEntry[];
  files: FileEntry[];
  volumes: VolumeEntry[];
  /** The OCI runtime the guest uses (Coracle's key); absent: crun when an init image holds it, else runc. */
  runtime?: 'crun' | 'runc';
  runtimeLoc?: SourceLocation;
  /** Device nodes and setuid/setgid files in image layers (Coracle's key); absent: DEFAULT_LAYER_POLICY. */
  layers?: LayersSpec;
  /** Accepted for compatibility and ignored (a warning says so). */
  trust?: unknown;
}

/** Coracle's library API: what the CLI uses, for programs that embed Coracle. */
export * from './errors.js';
export * from './progress/reporter.js';
export * from './oci/types.js';
export type { ContentStore } from './oci/store/content-store.js';
export { defaultStoreRoot } from './oci/store/location.js';
export * from './oci/ref.js';
export * from './spec/types.js';
export * from './initrd/index.js';
export * from './oci/digest.js';
export * from './oci/platform.js';
export * from './oci/image.js';
export { openStore, storeRefName, type LayoutStore, type BlobData, type WriteBlobOptions, type BlobInfo } from './oci/store/layout-store.js';
export { pruneStore, reachableDigests, type PruneOptions, type PruneResult } from './oci/store/prune.js';
export * from './tar/index.js';
export * from './runtime/index.js';
export * from './oci/layout/index.js';
export * from './oci/registry/index.js';
export * from './oci/transfer/index.js';
export * from './config/user-config.js';
export * from './spec/index.js';
export {
  IMPLEMENTED_KEYS,
  makeSeed,
  parseUserData,
  validateCloudConfig,
  type CloudInitDiagnostic,
  type SeedFormat,
  type SeedOptions,
  type SeedResult,
  type UserData,
  type UserDataPart,
} from './cloudinit/index.js';
export { runQemu, chooseAccel, QemuVm, STATUS as QEMU_RUN_STATUS, buildQemuArgs, probeKvm, runKvmProbe, parsePublish, parseDisk, resolveImage, makeSeedIso, ensureDisk, QmpClient, type RunQemuOptions, type RunResult, type EndReason, type QemuVmOptions, type QemuConfig, type BootFiles, type PublishSpec, type DiskSpec, type ResolvedImage, type KvmProbeResult } from './qemu/index.js';
export { buildPackage, planPackage, imageRef, computeTag, DEFAULT_ORG, type PkgOptions, type PkgPlan, type PkgBuildResult } from './pkg/build.js';
export { loadDefinition, type PackageDefinition } from './pkg/definition.js';
export { extractVmlinux, findPayload } from './pkg/bzimage.js';
export { AptArchive, UnknownPackageError, type ResolvedPackage } from './debian/apt.js';
export { build, defaultBuildName, type BuildOptions, type BuildResult } from './build/assemble.js';
export { unpackImage, type ImageToUnpack, type UnpackSource } from './build/unpack.js';
export { writeOutputs, kernelInitrdPaths, OUTPUT_FORMATS, type OutputFormat, type OutputSet } from './outputs/index.js';
export * from './testing/index.js';
export { JSON_SCHEMA_VERSION, type BuildJson, type BuildOutputJson, type ShowTagJson } from './report/json.js';

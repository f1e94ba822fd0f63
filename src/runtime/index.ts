/** OCI runtime configs for the containers of a system, with LinuxKit's semantics. */
export type * from './types.js';
export { OCI_RUNTIME_VERSION } from './types.js';
export { generateRuntimeConfig, RLIM_INFINITY, type RuntimeConfigInput, type RuntimeEntry, type GeneratedRuntimeConfig } from './config.js';
export { allocateIds, resolveId, FIRST_NAMED_ID, type IdMap } from './ids.js';
export { ALL_CAPABILITIES, isCapability, capabilityBit } from './capabilities.js';
export { stableJson } from './json.js';
export { defaultSeccompProfile, defaultProfileCalls, DEFAULT_GRANTS, SECCOMP_ARCHITECTURES } from './seccomp.js';

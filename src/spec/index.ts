/** The system spec: LinuxKit's YAML format, parsed, validated and merged. */
export type * from './types.js';
export { parseSpec, parseSpecFile, sortDiagnostics, TOP_LEVEL_KEYS, type SpecResult, type ParsedFile } from './parse.js';
export { loadSpecs, parseSpecs } from './load.js';
export { loadSeccompProfiles, seccompProfileSchema } from './seccomp-profile.js';
export { mergeSpecs } from './merge.js';
export { validateSpec, type ValidateOptions } from './validate.js';
export { parseImageLabelConfig, LabelConfigError, MOBY_CONFIG_LABEL } from './label.js';
export { locationIn } from './locators.js';
export {
  KNOWN_CAPABILITIES,
  KNOWN_RLIMITS,
  ROOTFS_PROPAGATIONS,
  RESTART_POLICIES,
  parseBind,
  parseOctalMode,
  type BindSpec,
} from './rules.js';
export {
  systemSpecSchema,
  imageEntrySchema,
  serviceEntrySchema,
  phaseEntrySchema,
  imageLabelSchema,
  imageConfigShape,
  kernelSchema,
  fileSchema,
  volumeSchema,
  mountSchema,
} from './schema.js';
export { YAML_KEY_TO_FIELD, FIELD_TO_YAML_KEY } from './convert.js';
export { specToDocument, imageConfigToDocument } from './serialize.js';
export { PKG_REF_PREFIX, isPkgRef, pkgRefDir, relativePkgRef, imageRefSites } from './pkg-ref.js';

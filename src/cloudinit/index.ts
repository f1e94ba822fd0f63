/** cloud-init on the host side: user-data parsing, validation, NoCloud seeds. */
export { IMPLEMENTED_KEYS, isImplementedKey, type ImplementedKey } from './implemented.js';
export { mergeCloudConfigs } from './merge.js';
export { parseMime, type MimeEntity } from './mime.js';
export { CLOUD_CONFIG_SCHEMA_VERSION, cloudConfigSchema, knownTopLevelKeys } from './schema/index.js';
export {
  checkNetworkConfig,
  makeSeed,
  newInstanceId,
  resolveMetaData,
  type SeedFormat,
  type SeedOptions,
  type SeedResult,
} from './seed.js';
export {
  parseUserData,
  typeFromStart,
  type CloudConfigPart,
  type ScriptFrequency,
  type ScriptPart,
  type UserData,
  type UserDataPart,
} from './userdata.js';
export {
  formatPath,
  validateCloudConfig,
  type CloudConfigValidation,
  type CloudInitDiagnostic,
  type DiagnosticCode,
  type SourceLabel,
} from './validate.js';

/** Moving images between registries and the local store. */
export { pullImage, resolvePlatform, storeName, readStoredManifest } from './pull.js';
export type { PullOptions, PullResult } from './pull.js';
export { pushImage, findInStore } from './push.js';
export type { PushOptions, PushResult } from './push.js';
export { ensureImage, completeLocalImage } from './ensure.js';
export type { EnsureOptions, EnsuredImage } from './ensure.js';
export { inspectImage } from './inspect.js';
export type { InspectOptions, InspectResult } from './inspect.js';
export { pullSources } from './sources.js';
export type { RegistryAccessOptions, Source } from './sources.js';

/** The OCI distribution client: transport, authentication, credentials. */
export { RegistryClient, rechunk } from './client.js';
export type { RegistryClientOptions, FetchedManifest, BlobPushOptions, BlobPushResult } from './client.js';
export { RegistryAuth, TokenCache, sharedTokenCache } from './auth.js';
export { parseWwwAuthenticate, splitScopes, repositoryScope, normaliseScopes } from './challenge.js';
export type { Challenge } from './challenge.js';
export { dockerCredentials, dockerConfigPath, runCredentialHelper, normaliseRegistryKey, helperServerUrl, anonymous } from './credentials.js';
export type { Credentials, CredentialSource } from './credentials.js';
export { registryEndpoint, isLoopbackHost, isInsecureHost, DOCKER_HUB_ENDPOINT } from './endpoint.js';
export { RegistryError, DigestMismatchError, describeNetworkError, networkErrorCode } from './errors.js';
export { fetchWithRetry, parseRetryAfter, DEFAULT_RETRY } from './transport.js';
export type { RetryPolicy, FetchLike } from './transport.js';

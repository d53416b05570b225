export {
  RegistryClient,
  isLoopbackHost,
  type FetchedManifest,
  type PingResult,
  type PushBlobOptions,
  type PushBlobResult,
  type RegistryClientOptions,
  type Repository,
  type ResolveOptions,
  type ResolveResult,
  type SignalOptions,
} from './client.js';
export { CredentialStore, DOCKER_HUB_AUTH_KEY, credentialHost, type CredentialProvider, type CredentialStoreOptions, type Credentials } from './credentials.js';
export { parseChallenges, pickChallenge, type Challenge } from './challenge.js';
export { redactText, redactUrl } from './redact.js';
export type { Endpoint, RetryPolicy, TransportOptions } from './transport.js';

export { parseOutputSpec, parseSecretSpec, parseSshSpec, splitKeyValues, type Compression, type LayerCompression, type OutputSpec, type SecretSpec, type SshSpec } from './options.js';

export { parseOutputSpec, parseSecretSpec, parseSshSpec, splitKeyValues, type Compression, type LayerCompression, type OutputSpec, type SecretSpec, type SshSpec } from './options.js';
export { resolveExporters, type BuiltImage, type ExportContext, type Exporter, type ResolveExportersOptions, type ResolvedExporters } from './exporter.js';
export { outputTarget, writeOutput, type WriteOutcome } from './write.js';

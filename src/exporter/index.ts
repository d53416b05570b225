export { parseOutputSpec, type Compression, type LayerCompression, type OutputSpec } from './options.js';
export { DEFAULT_DOCKER_SOCKET, dockerDaemonSocket, loadIntoDockerDaemon, pingDockerDaemon, type DockerDaemonOptions, type DockerLoadResult } from './daemon.js';
export { resolveExporters, type BuiltImage, type ExportContext, type Exporter, type ResolveExportersOptions, type ResolvedExporters } from './exporter.js';
export { outputTarget, writeOutput, type WriteOutcome } from './write.js';
export { ATTESTATION_TYPES, DEFAULT_ATTESTATIONS, parseAttestFlags, scanEnabledForStage, type AttestFlags, type AttestationRequest, type ProvenanceRequest, type SbomRequest } from './attest-options.js';
export { attestImage, type Attestation, type AttestationProducers, type AttestOptions, type AttestResult, type SbomInput, type SbomTarget } from './attest.js';

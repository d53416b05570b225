export { parseOutputSpec, type Compression, type LayerCompression, type OutputSpec } from './options.js';
export { DEFAULT_DOCKER_SOCKET, dockerDaemonSocket, loadIntoDockerDaemon, pingDockerDaemon, type DockerDaemonOptions, type DockerLoadResult } from './daemon.js';
export { resolveExporters, type BuiltImage, type ExportContext, type Exporter, type ResolveExportersOptions, type ResolvedExporters } from './exporter.js';
export { outputTarget, writeOutput, type WriteOutcome } from './write.js';
export { ATTESTATION_TYPES, DEFAULT_ATTESTATIONS, parseAttestFlags, scanEnabledForStage, type AttestFlags, type AttestationRequest, type ProvenanceRequest, type SbomRequest } from './attest-options.js';
export { attestImage, makeAttestations, storeAttestations, type Attestation, type AttestationProducers, type AttestOptions, type AttestResult, type SbomInput, type SbomTarget } from './attest.js';
export { SCAN_KINDS, VULN_PREDICATE_TYPE, parseScanFlags, scanImage, scanSummary, type LayerSource, type ScanKind, type ScanRequest, type Scanners, type ScanStepOptions, type ScanStepResult, type VulnData } from './scan.js';
export { enforcePolicy, policyInput, type PolicyFacts } from './policy.js';
export { storePlatformIndex, type PlatformImage } from './platform-index.js';

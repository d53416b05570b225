export type { CatalogContext, Cataloger, Distro, Ecosystem, FsEntry, FsEntryType, PackageLocation, SbomPackage, ScanFile, ScanFs } from './sbom/types.js';
export { FileTooLargeError, directoryScanFs } from './sbom/fs.js';
export { gitRemote, gitSource, remoteUrl, type GitSource } from './git.js';
export { withoutCredentials } from './redact-url.js';
export {
  DEFAULT_BUILDER_ID,
  PROVENANCE_V02,
  PROVENANCE_V1,
  STAGECRAFT_BUILD_TYPE,
  dependencyPurl,
  parseDependencyPurl,
  makeProvenance,
  type Provenance,
  type ProvenanceFacts,
  type ProvenanceHttp,
  type ProvenanceImage,
  type ProvenanceMountId,
  type ProvenanceOptions,
  type ProvenanceStep,
} from './provenance.js';
export { IN_TOTO_MEDIA_TYPE, IN_TOTO_STATEMENT_V1, PREDICATE_TYPE_ANNOTATION, SPDX_PREDICATE_TYPE, imagePurl, imageSubjects, makeStatement, type InTotoStatement, type InTotoSubject } from './intoto.js';
export { ATTESTATION_MANIFEST_ARTIFACT_TYPE, ATTESTATION_REFERENCE_TYPE, EMPTY_JSON_DIGEST, MAX_ATTESTATION_BYTES, REFERENCE_DIGEST_ANNOTATION, REFERENCE_TYPE_ANNOTATION, assembleAttestedIndex, attestationManifestsOf, statementBlob, type AttestedIndex, type AttestedIndexOptions, type AttestationBlob } from './storage.js';
export { catalogFilesystem, parseOsRelease, type CatalogOptions, type SbomResult } from './sbom/catalog.js';
export { CATALOGERS } from './sbom/catalogers/index.js';
export { purl } from './sbom/purl.js';
export { toSpdx, type SbomDocumentInfo } from './sbom/spdx.js';
export { toCycloneDx } from './sbom/cyclonedx.js';
export { sbomTable } from './sbom/table.js';
export { spdxExpression } from './sbom/license.js';
export { layerAttribution, buildLayerIndex, type LayerSource } from './sbom/layer-index.js';
export { withFileDigests } from './sbom/file-digests.js';
export {
  BUNDLE_MEDIA_TYPE,
  COSIGN_SIGN_PREDICATE,
  fallbackTag,
  generateKeyFiles,
  isSignatureTag,
  legacySignatureTag,
  loadSigningKey,
  loadVerifyingKey,
  localSignatureSource,
  pushSignatures,
  registrySignatureSource,
  signImage,
  signRemote,
  verifyImageSignatures,
  type KeyAlgorithm,
  type SignatureSet,
  type SignatureSource,
  type SigningKey,
  type VerifyResult,
  type VerifyingKey,
} from './sign/index.js';

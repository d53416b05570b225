export type { CatalogContext, Cataloger, Distro, Ecosystem, FsEntry, FsEntryType, PackageLocation, SbomPackage, ScanFs } from './sbom/types.js';
export { FileTooLargeError, directoryScanFs } from './sbom/fs.js';
export { gitSource, type GitSource } from './git.js';
export {
  DEFAULT_BUILDER_ID,
  PROVENANCE_V02,
  PROVENANCE_V1,
  STAGECRAFT_BUILD_TYPE,
  imagePurl,
  makeProvenance,
  type Provenance,
  type ProvenanceFacts,
  type ProvenanceHttp,
  type ProvenanceImage,
  type ProvenanceMountId,
  type ProvenanceOptions,
  type ProvenanceStep,
} from './provenance.js';

export type { CatalogContext, Cataloger, Distro, Ecosystem, FsEntry, FsEntryType, PackageLocation, SbomPackage, ScanFs } from './sbom/types.js';
export { FileTooLargeError, directoryScanFs } from './sbom/fs.js';
export type { SbomResult } from './sbom/catalog-result.js';
export { toSpdx, type SbomDocumentInfo } from './sbom/spdx.js';
export { toCycloneDx } from './sbom/cyclonedx.js';
export { sbomTable } from './sbom/table.js';
export { spdxExpression } from './sbom/license.js';

export type { CatalogContext, Cataloger, Distro, Ecosystem, FsEntry, FsEntryType, PackageLocation, SbomPackage, ScanFs } from './sbom/types.js';
export { FileTooLargeError, directoryScanFs } from './sbom/fs.js';
export { catalogFilesystem, parseOsRelease, type CatalogOptions, type SbomResult } from './sbom/catalog.js';
export { CATALOGERS } from './sbom/catalogers/index.js';
export { purl } from './sbom/purl.js';
export { toSpdx, type SbomDocumentInfo } from './sbom/spdx.js';
export { toCycloneDx } from './sbom/cyclonedx.js';
export { sbomTable } from './sbom/table.js';
export { spdxExpression } from './sbom/license.js';

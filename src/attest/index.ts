export type { CatalogContext, Cataloger, Distro, Ecosystem, FsEntry, FsEntryType, PackageLocation, SbomPackage, ScanFile, ScanFs } from './sbom/types.js';
export { FileTooLargeError, directoryScanFs } from './sbom/fs.js';
export { catalogFilesystem, parseOsRelease, type CatalogOptions, type SbomResult } from './sbom/catalog.js';
export { CATALOGERS } from './sbom/catalogers/index.js';
export { purl } from './sbom/purl.js';

export type { CatalogContext, Cataloger, Distro, Ecosystem, FsEntry, FsEntryType, PackageLocation, SbomPackage, ScanFs } from './sbom/types.js';
export { FileTooLargeError, directoryScanFs } from './sbom/fs.js';

export type { CatalogContext, Cataloger, Distro, Ecosystem, FsEntry, FsEntryType, PackageLocation, SbomPackage, ScanFile, ScanFs } from './sbom/types.js';
export { FileTooLargeError, directoryScanFs } from './sbom/fs.js';

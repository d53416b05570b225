export { readStoredImage, type StoredImage } from './image.js';
export { writeDockerArchive, writeOciArchive, type SaveImage, type SaveOptions } from './save.js';
export { loadArchive, type LoadOptions, type LoadResult, type LoadedImage } from './load.js';
export { assembleImage, replaceManifestLayers, rfc3339, type AssembleConfig, type AssembleHistory, type AssembleInput, type AssembleLayer, type AssembledImage } from './assemble.js';
export { DEFAULT_EXPORT_COMPRESSION, compressForExport, compressLayers, type ExportCompression, type ExportCompressionSpec } from './compress-layers.js';

export { readStoredImage, type StoredImage } from './image.js';
export { writeDockerArchive, writeOciArchive, writeOciLayoutDir, type SaveImage, type SaveOptions } from './save.js';
export { loadArchive, type LoadOptions, type LoadResult, type LoadedImage } from './load.js';
export { assembleImage, replaceManifestLayers, rfc3339, type AssembleInput, type AssembleLayer, type AssembledImage, type ImageAnnotations } from './assemble.js';
export { DEFAULT_EXPORT_COMPRESSION, compressForExport, compressLayers, type ExportCompression, type ExportCompressionSpec } from './compress-layers.js';
export { unpackedLayerSize } from './layer-size.js';
export {
  diffConfigs,
  diffEntries,
  diffImages,
  historyInstructions,
  normalizeEntryPath,
  readLayerEntries,
  type BlobReader,
  type ConfigChange,
  type DiffImagesOptions,
  type DiffSide,
  type EntryChange,
  type EntryKind,
  type FieldChange,
  type ImageDiff,
  type LayerDiff,
  type LayerEntry,
  type StepSource,
  type TimeChange,
} from './semantic-diff.js';

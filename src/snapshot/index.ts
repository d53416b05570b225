export { makeHeader, type TarEntryType, type TarHeader } from './tar/format.js';
export { writeTar, type TarWriteEntry } from './tar/writer.js';
export { readTar, type ReadTarOptions, type TarReadEntry } from './tar/reader.js';
export { clampTarTimes, clampTime } from './clamp.js';
export {
  OPAQUE_WHITEOUT,
  WHITEOUT_PREFIX,
  entryTypeOf,
  lstatNames,
  packDirectory,
  packItems,
  walkTree,
  type LayerItem,
  type PackOptions,
  type TreeEntry,
} from './pack.js';
export {
  DEFAULT_MAX_LAYER_BYTES,
  DEFAULT_MAX_LAYER_ENTRIES,
  applyLayer,
  applyTar,
  applyTree,
  invalidPathReason,
  unmappedOwner,
  type ApplyOptions,
  type ApplyResult,
} from './apply.js';
export { isOverlayXattr } from './xattr.js';
export {
  DEFAULT_COMPRESSION_LEVEL,
  LAYER_MEDIA_TYPES,
  compressLayer,
  decompressLayer,
  COMPRESSION_MAGIC_BYTES,
  detectCompression,
  type CompressOptions,
  type CompressResult,
  type CompressionAlgorithm,
  type ArchiveCompression,
  type DetectedCompression,
} from './compress.js';
export type {
  ApplyLayerOptions,
  DiffOptions,
  ImmutableSnapshot,
  MountedRootfs,
  MutableSnapshot,
  Snapshotter,
} from './types.js';
export { isMounted, mountPoints, removeUnmounted, type Mount } from './mount.js';
export { chainId, ownerOfName, type SnapshotterOptions } from './snapshotter.js';
export { OverlaySnapshotter, overlaySupported } from './overlay.js';
export { CopySnapshotter } from './copy.js';
export { overlayChanges, treeChanges } from './diff.js';
export { openSnapshotter } from './open.js';
export { zstdDecompress } from './zstd.js';

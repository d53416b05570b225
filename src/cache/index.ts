export { CacheRecords, CachedResult, ClampedLayers, LayerRecord, LazyLayer, LazyLayers, StepLayer, isLazyLayer, madeLayers, CACHE_MIGRATIONS, CACHE_SCHEMA_OWNER, type CacheRecordRow } from './records.js';
export { BuildContext, StatCache, cleanSource, type BuildContextOptions, type ContextEntry } from './context.js';
export { StepHistory, describeOpChange, explainMiss, type InputInfo, type StepRecord } from './explain.js';
export { CACHE_CONFIG_MEDIA_TYPE, exportCache, exportCacheTo, importCache, importCaches, parseCacheSpec, type CacheExportSpec, type CacheImportResult, type CacheLocation, type RemoteCacheDeps } from './remote.js';
export { INLINE_CACHE_CONFIG_KEY, inlineCacheValue, readInlineCache, type ImageLayer, type InlineCacheContents } from './inline.js';
export { LOCKS_MIGRATIONS, LOCKS_SCHEMA_OWNER, STATE_ROOT_LOCK, StoreLocks, type HeldLock, type LockHolder, type LockMode, type StoreLocksOptions } from './locks.js';

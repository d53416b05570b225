export { CacheKeyLinks, CacheRecords, CachedResult, type KeyLink, ClampedLayers, LayerRecord, LazyLayer, LazyLayers, StepLayer, isLazyLayer, madeLayers, CACHE_MIGRATIONS, CACHE_SCHEMA_OWNER, type CacheRecordRow } from './records.js';
export { BuildContext, MAX_LISTED_FILES, StatCache, cleanSource, contentDigests, fileContentDigest, type BuildContextOptions, type ContentLine, type ContextEntry } from './context.js';
export { StepHistory, describeOpChange, explainContentHit, explainMiss, type InputInfo, type StepRecord } from './explain.js';
export { CACHE_CONFIG_MEDIA_TYPE, exportCache, exportCacheTo, importCache, importCaches, parseCacheSpec, type CacheExportSpec, type CacheImportResult, type CacheLocation, type RemoteCacheDeps } from './remote.js';
export { INLINE_CACHE_CONFIG_KEY, inlineCacheValue, readInlineCache, type ImageLayer, type InlineCacheContents } from './inline.js';
export { LOCKS_MIGRATIONS, LOCKS_SCHEMA_OWNER, STATE_ROOT_LOCK, StoreLocks, type HeldLock, type LockHolder, type LockMode, type StoreLocksOptions } from './locks.js';

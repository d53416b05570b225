export { BUILD_ID_RE, debugMountSchema, debugRecordSchema, type DebugMount, type DebugRecord } from './record.js';
export { DEBUG_LOG_LIMIT, DebugStore, type DebugStoreOptions, type StagedState } from './store.js';

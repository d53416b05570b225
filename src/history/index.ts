export { HISTORY_MIGRATIONS, HISTORY_SCHEMA_OWNER } from './schema.js';
export { HistoryStore, compressLog, decompressLog, type CompressedLog, type ListOptions, type NewBuildRecord } from './store.js';
export { HistoryRecorder, buildRequest, requestFacts, type BuildRequest, type BuildRequestInput, type HistoryRecorderOptions } from './recorder.js';
export { projectOf } from './project.js';
export { BUNDLE_VERSION, RecordBundle, fromRecordBundle, toRecordBundle } from './bundle.js';
export { HistoryQuery, type BuildPage, type CacheKeyStats, type FailedStep, type HistoryFilter, type ProjectSummary, type SeriesPoint } from './query.js';
export { OUTBOX_MIGRATIONS, OUTBOX_SCHEMA_OWNER, Outbox, backoffMs, type OutboxEntry } from './outbox.js';
export { pushRecords, recordsEndpoint, type PushRecordsOptions, type PushRecordsResult } from './report.js';
export {
  BUILD_STATUSES,
  BuildRequestFacts,
  STEP_STATUSES,
  type BuildRecord,
  type BuildRecordBundle,
  type BuildStatus,
  type SourcePoint,
  type StepLog,
  type StepRecord,
  type StepStatus,
  type WarningRecord,
} from './types.js';

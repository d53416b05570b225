export { HISTORY_MIGRATIONS, HISTORY_SCHEMA_OWNER } from './schema.js';
export { HistoryStore, compressLog, decompressLog, type CompressedLog, type ListOptions, type NewBuildRecord } from './store.js';
export { HistoryRecorder, buildRequest, requestFacts, type BuildRequest, type BuildRequestInput, type HistoryRecorderOptions, type MadeAttestation, type PlannedStep, type SupplyChainInput } from './recorder.js';
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
  type PullRecord,
  type SupplyChainRecord,
  type SourcePoint,
  type StepLog,
  type StepRecord,
  type StepStatus,
  type WarningRecord,
} from './types.js';
export { PROMOTION_UNKNOWN_REASON, historyStats, historyStatsBy, type Distribution, type Ratio, type SliGroup, type SliQuery, type SliReport } from './stats.js';
export { historyTotals, type HistoryTotals } from './totals.js';

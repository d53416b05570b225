export { EVENT_SCHEMA_VERSION, RecordingSink, nullSink, tee, type BuildEvent, type BuildEventType, type EventSink, type TransferDirection, type TransferKind, type TransferOutcome, type TransferRef, type VertexRef } from './types.js';
export { EVENT_SCHEMAS, RawJsonLine, toRawJson } from './schema.js';

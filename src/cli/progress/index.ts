export { initialPlainState, renderPlain, type PlainState } from './plain.js';
export { initialTtyState, reduceTty, ttyFrame, TtyPainter, type TtyState, type TtyStep, type TtyTransfer } from './tty.js';
export { formatBytes, retryText, shortDigest, transferCompletedText, transferName } from './text.js';
export { PROGRESS_MODES, progressSink, type ProgressOutput } from './sink.js';
export { FAILED_LOG_LIMIT, FailedStepLogs } from './failed-logs.js';

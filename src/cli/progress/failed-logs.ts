/**
 * The whole output of failed steps, for the tty renderer: its live view shows only the last lines
 * of a step (clipped to the width), so after the build the output of each failed step is printed
 * whole. Output is held per running step and dropped when the step succeeds. A step that prints
 * more than `limit` bytes keeps its last `limit` bytes here (the debug state's log file has all).
 */
import type { BuildEvent } from '../../events/index.js';

/** Bytes of one step's output held in memory. */
export const FAILED_LOG_LIMIT = 16 * 1024 * 1024;

interface StepLog {
  name: string;
  chunks: string[];
  bytes: number;
  dropped: number;
}

export class FailedStepLogs {
  readonly #running = new Map<string, StepLog>();
  readonly #failed: StepLog[] = [];

  constructor(private readonly limit: number = FAILED_LOG_LIMIT) {}

  record(event: BuildEvent): void {
    if (event.type === 'vertex.started') {
      this.#running.set(event.vertex, { name: event.name, chunks: [], bytes: 0, dropped: 0 });
    } else if (event.type === 'vertex.log') {
      const log = this.#running.get(event.vertex);
      if (log !== undefined) this.#append(log, event.data);
    } else if (event.type === 'vertex.failed') {
      const log = this.#running.get(event.vertex);
      this.#running.delete(event.vertex);
      if (log !== undefined && log.bytes > 0) this.#failed.push(log);
    } else if (event.type === 'vertex.completed' || event.type === 'vertex.canceled') {
      this.#running.delete(event.vertex);
    }
  }

  #append(log: StepLog, data: string): void {
    log.chunks.push(data);
    log.bytes += data.length;
    while (log.bytes > this.limit && log.chunks.length > 0) {
      const first = log.chunks.shift() ?? '';
      const over = log.bytes - this.limit;
      if (first.length > over) {
        log.chunks.unshift(first.slice(over));
        log.bytes -= over;
        log.dropped += over;
      } else {
        log.bytes -= first.length;
        log.dropped += first.length;
      }
    }
  }

  /** The failed steps' output, each whole between rules; empty when no step with output failed. */
  text(): string {
    return this.#failed.map((log) => {
      const body = log.chunks.join('');
      const omitted = log.dropped > 0 ? `[${log.dropped} earlier characters not shown: stagecraft debug log prints the whole log of the newest kept failure, or use --progress=plain]\n` : '';
      return `------ output of ${log.name} ------\n${omitted}${body}${body.endsWith('\n') ? '' : '\n'}------\n`;
    }).join('');
  }
}

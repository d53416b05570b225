/**
 * The phases of a command for `STAGECRAFT_PROFILE=1` (cli/profile.ts prints them at exit): a
 * performance mark where a phase ends, or a measure of one. One entry per call and kept for the
 * process's life: use it for phases of a command, never per file or per step. Each entry carries the
 * process's CPU time (user + system, ms) when it ended, so a profile taken on a busy machine still
 * tells how much work a phase did.
 */

/** The `detail` of a profile mark or measure. */
export interface ProfileDetail {
  /** The process's CPU time (user + system, ms) when the phase ended. */
  readonly cpuAt: number;
  /** For a measure that knows it: the CPU time (ms) it took. */
  readonly cpuTook?: number;
}

/** The process's CPU time so far (user + system), in milliseconds. */
export function cpuNow(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Marks the end of a phase; its length is the time since the mark before it. */
export function phaseDone(name: string): void {
  const detail: ProfileDetail = { cpuAt: cpuNow() };
  performance.mark(name, { detail });
}

/** Records a phase that started at `start` (a `performance.now()`) and ends now. */
export function phaseTook(name: string, start: number): void {
  const detail: ProfileDetail = { cpuAt: cpuNow() };
  performance.measure(name, { start, end: performance.now(), detail });
}

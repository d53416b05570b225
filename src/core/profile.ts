/**
 * The phases of a command for `STAGECRAFT_PROFILE=1` (cli/profile.ts prints them at exit): a
 * performance mark where a phase ends, or a measure of one. One entry per call and kept for the
 * process's life: use it for phases of a command, never per file or per step.
 */

/** Marks the end of a phase; its length is the time since the mark before it. */
export function phaseDone(name: string): void {
  performance.mark(name);
}

/** Records a phase that started at `start` (a `performance.now()`) and ends now. */
export function phaseTook(name: string, start: number): void {
  performance.measure(name, { start, end: performance.now() });
}

/**
 * `STAGECRAFT_PROFILE=1` (or `json`): where the command's time went, printed to stderr at exit. The
 * rows are the performance marks and measures the loader (cli-loader.ts), the CLI and the engine make
 * (core/profile.ts), with Node's own start-up from `performance.nodeTiming`. A mark's time is since the
 * mark before it; a measure is a part inside one (the context's stat walk inside the solve). Times are
 * milliseconds since the process started. Beside the wall time, each row has the CPU time (user +
 * system) the process spent in it, where it is known: on a busy machine wall time mostly measures the
 * wait for a core, CPU time the work.
 */
import type { PerformanceEntry } from 'node:perf_hooks';
import { cpuNow, type ProfileDetail } from '../core/index.js';

export interface ProfileRow {
  /** When the phase ended. */
  readonly at: number;
  /** How long it took. */
  readonly took: number;
  /** The CPU time (user + system, ms) the process spent in it, when known. */
  readonly cpu?: number;
  readonly name: string;
  readonly kind: 'node' | 'mark' | 'measure' | 'exit';
}

function detailOf(entry: PerformanceEntry): ProfileDetail | undefined {
  const detail: unknown = (entry as PerformanceEntry & { detail?: unknown }).detail;
  if (typeof detail !== 'object' || detail === null || !('cpuAt' in detail) || typeof detail.cpuAt !== 'number') return undefined;
  return 'cpuTook' in detail && typeof detail.cpuTook === 'number' ? { cpuAt: detail.cpuAt, cpuTook: detail.cpuTook } : { cpuAt: detail.cpuAt };
}

/** The rows so far, in the order they ended. */
export function profileRows(): ProfileRow[] {
  const boot = performance.nodeTiming.bootstrapComplete;
  const entries = [...performance.getEntriesByType('mark'), ...performance.getEntriesByType('measure')];
  entries.sort((a, b) => a.startTime + a.duration - (b.startTime + b.duration));
  // Node's own start: the CPU time spent before the loader's first step began.
  const first = entries.map((entry) => (entry.name.startsWith('load: ') ? detailOf(entry) : undefined)).find((detail) => detail?.cpuTook !== undefined);
  const bootCpu = first?.cpuTook === undefined ? undefined : first.cpuAt - first.cpuTook;
  const rows: ProfileRow[] = [{ at: boot, took: boot, ...(bootCpu === undefined ? {} : { cpu: bootCpu }), name: 'node: start-up (until its bootstrap completed)', kind: 'node' }];
  let last = boot;
  let lastCpu = bootCpu;
  for (const entry of entries) {
    const detail = detailOf(entry);
    if (entry.entryType === 'measure') {
      rows.push({ at: entry.startTime + entry.duration, took: entry.duration, ...(detail?.cpuTook === undefined ? {} : { cpu: detail.cpuTook }), name: entry.name, kind: 'measure' });
      // The loader's steps run before the first mark, one after another.
      if (entry.name.startsWith('load: ')) {
        last = entry.startTime + entry.duration;
        lastCpu = detail?.cpuAt;
      }
    } else {
      const cpu = detail === undefined || lastCpu === undefined ? undefined : detail.cpuAt - lastCpu;
      rows.push({ at: entry.startTime, took: entry.startTime - last, ...(cpu === undefined ? {} : { cpu }), name: entry.name, kind: 'mark' });
      last = entry.startTime;
      lastCpu = detail?.cpuAt;
    }
  }
  const now = performance.now();
  rows.push({ at: now, took: now - last, ...(lastCpu === undefined ? {} : { cpu: cpuNow() - lastCpu }), name: 'exit', kind: 'exit' });
  return rows;
}

export function formatProfile(rows: readonly ProfileRow[]): string {
  const lines = rows.map((row) => `${row.at.toFixed(1).padStart(8)} ${row.took.toFixed(1).padStart(7)} ${(row.cpu === undefined ? '' : row.cpu.toFixed(1)).padStart(7)}  ${row.kind === 'measure' ? '  ' : ''}${row.name}`);
  return `stagecraft profile (ms since the process started; took: wall, cpu: user + system; indented: a part of the phase it ends in)\n      at    took     cpu  phase\n${lines.join('\n')}\n`;
}

/** With `mode` 1 or json, writes the profile when the process exits. */
export function profileAtExit(mode: string | undefined, write: (text: string) => void): void {
  if (mode !== '1' && mode !== 'json') return;
  process.once('exit', () => {
    const rows = profileRows();
    write(mode === 'json' ? `${JSON.stringify({ stagecraftProfile: rows })}\n` : formatProfile(rows));
  });
}

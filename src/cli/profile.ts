/**
 * `STAGECRAFT_PROFILE=1` (or `json`): where the command's time went, printed to stderr at exit. The
 * rows are the performance marks and measures the loader (cli-loader.ts), the CLI and the engine make
 * (core/profile.ts), with Node's own start-up from `performance.nodeTiming`. A mark's time is since the
 * mark before it; a measure is a part inside one (the context's stat walk inside the solve). Times are
 * milliseconds since the process started.
 */
export interface ProfileRow {
  /** When the phase ended. */
  readonly at: number;
  /** How long it took. */
  readonly took: number;
  readonly name: string;
  readonly kind: 'node' | 'mark' | 'measure' | 'exit';
}

/** The rows so far, in the order they ended. */
export function profileRows(): ProfileRow[] {
  const boot = performance.nodeTiming.bootstrapComplete;
  const rows: ProfileRow[] = [{ at: boot, took: boot, name: 'node: start-up (until its bootstrap completed)', kind: 'node' }];
  const entries = [...performance.getEntriesByType('mark'), ...performance.getEntriesByType('measure')];
  entries.sort((a, b) => a.startTime + a.duration - (b.startTime + b.duration));
  let last = boot;
  for (const entry of entries) {
    if (entry.entryType === 'measure') {
      rows.push({ at: entry.startTime + entry.duration, took: entry.duration, name: entry.name, kind: 'measure' });
      // The loader's steps run before the first mark, one after another.
      if (entry.name.startsWith('load: ')) last = entry.startTime + entry.duration;
    } else {
      rows.push({ at: entry.startTime, took: entry.startTime - last, name: entry.name, kind: 'mark' });
      last = entry.startTime;
    }
  }
  const now = performance.now();
  rows.push({ at: now, took: now - last, name: 'exit', kind: 'exit' });
  return rows;
}

export function formatProfile(rows: readonly ProfileRow[]): string {
  const lines = rows.map((row) => `${row.at.toFixed(1).padStart(8)} ${row.took.toFixed(1).padStart(7)}  ${row.kind === 'measure' ? '  ' : ''}${row.name}`);
  return `stagecraft profile (ms since the process started; indented: a part of the phase it ends in)\n      at    took  phase\n${lines.join('\n')}\n`;
}

/** With `mode` 1 or json, writes the profile when the process exits. */
export function profileAtExit(mode: string | undefined, write: (text: string) => void): void {
  if (mode !== '1' && mode !== 'json') return;
  process.once('exit', () => {
    const rows = profileRows();
    write(mode === 'json' ? `${JSON.stringify({ stagecraftProfile: rows })}\n` : formatProfile(rows));
  });
}

/**
 * The progress renderer for a `--progress` mode, as an EventSink: `build`, `pull` and `push` print
 * their events through it (tty redraws in place, plain prints lines, rawjson one JSON object a line).
 */
import { toRawJson, type BuildEvent, type EventSink } from '../../events/index.js';
import { initialPlainState, renderPlain } from './plain.js';
import { initialTtyState, reduceTty, ttyFrame, TtyPainter } from './tty.js';
import { FailedStepLogs } from './failed-logs.js';

export const PROGRESS_MODES = ['auto', 'tty', 'plain', 'rawjson', 'quiet'] as const;

export interface ProgressOutput {
  readonly sink: EventSink;
  /** Stops the redraw timer (tty) and paints the last frame. */
  finish(): void;
}

/** The progress sink for `mode` (one of PROGRESS_MODES; `auto` is tty when stderr is a terminal, else plain), writing with `write`. */
export function progressSink(mode: string, write: (text: string) => void): ProgressOutput {
  if (mode === 'quiet') return { sink: { emit: () => undefined }, finish: () => undefined };
  if (mode === 'rawjson') return { sink: { emit: (event) => write(`${toRawJson(event)}\n`) }, finish: () => undefined };
  const tty = mode === 'tty' || (mode === 'auto' && process.stderr.isTTY);
  if (!tty) {
    let state = initialPlainState;
    return {
      sink: { emit: (event) => { const [next, text] = renderPlain(state, event); state = next; if (text !== '') write(text); } },
      finish: () => undefined,
    };
  }
  let state = initialTtyState;
  const failed = new FailedStepLogs();
  const painter = new TtyPainter(write);
  // A pty may report 0 columns (e.g. under script(1)): fall back to $COLUMNS, then 100.
  const width = (): number => Math.max(40, process.stderr.columns || Number(process.env.COLUMNS) || 100);
  const timer = setInterval(() => painter.paint(ttyFrame(state, Date.now(), width())), 100);
  timer.unref();
  return {
    sink: { emit: (event: BuildEvent) => { state = reduceTty(state, event); failed.record(event); } },
    finish: () => {
      clearInterval(timer);
      painter.paint(ttyFrame(state, Date.now(), width()));
      // The frame shows a failed step's last lines only: its whole output follows.
      const text = failed.text();
      if (text !== '') write(text);
    },
  };
}

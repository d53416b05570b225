/**
 * The live tty view (BuildKit-like): a header with elapsed time and step counts, one line per step —
 * running ones with a live timer and the last lines of their log under them, finished ones collapsed
 * to one line with their duration, CACHED marked; blob transfers with bytes done of total, and the
 * last retried registry requests with their reason. `reduceTty` is a pure state transition; `ttyFrame`
 * turns a state into the lines of one frame; the driver redraws in place.
 */
import type { BuildEvent, TransferOutcome } from '../../events/index.js';
import { formatBytes, retryText, transferName, warningText } from './text.js';

export interface TtyStep {
  readonly vertex: string;
  readonly name: string;
  readonly status: 'running' | 'done' | 'cached' | 'error' | 'canceled';
  readonly started: number;
  readonly ended?: number | undefined;
  readonly logTail: readonly string[];
  readonly partial: string;
  readonly error?: string | undefined;
}

export interface TtyTransfer {
  /** `transferName` of the transfer: direction, repository and short digest. */
  readonly name: string;
  readonly kind: string;
  readonly current: number;
  readonly total: number;
  readonly started: number;
  readonly ended?: number | undefined;
  readonly outcome?: TransferOutcome | undefined;
}

export interface TtyState {
  readonly started?: number | undefined;
  readonly ended?: number | undefined;
  readonly total: number;
  readonly steps: readonly TtyStep[];
  readonly warnings: readonly string[];
  readonly transfers: readonly TtyTransfer[];
  /** The last few retried requests, as sentences. */
  readonly retries: readonly string[];
}

export const initialTtyState: TtyState = { total: 0, steps: [], warnings: [], transfers: [], retries: [] };
const TAIL = 6;
const RETRIES_SHOWN = 3;

function updateTransfer(state: TtyState, name: string, change: (transfer: TtyTransfer) => TtyTransfer): TtyState {
  return { ...state, transfers: state.transfers.map((t) => (t.name === name ? change(t) : t)) };
}

function update(state: TtyState, vertex: string, change: (step: TtyStep) => TtyStep): TtyState {
  return { ...state, steps: state.steps.map((s) => (s.vertex === vertex ? change(s) : s)) };
}

export function reduceTty(state: TtyState, event: BuildEvent): TtyState {
  switch (event.type) {
    case 'build.started':
      return { ...state, started: event.time, total: event.vertices };
    case 'vertex.started':
      return { ...state, steps: [...state.steps.filter((s) => s.vertex !== event.vertex), { vertex: event.vertex, name: event.name, status: 'running', started: event.time, logTail: [], partial: '' }] };
    case 'vertex.cached':
      return { ...state, steps: [...state.steps, { vertex: event.vertex, name: event.name, status: 'cached', started: event.time, ended: event.time, logTail: [], partial: '' }] };
    case 'vertex.log':
      return update(state, event.vertex, (s) => {
        const lines = (s.partial + event.data).split('\n');
        const partial = lines.pop() ?? '';
        return { ...s, partial, logTail: [...s.logTail, ...lines].slice(-TAIL) };
      });
    case 'vertex.completed':
      return update(state, event.vertex, (s) => ({ ...s, status: 'done', ended: event.time }));
    case 'vertex.failed':
      return update(state, event.vertex, (s) => ({ ...s, status: 'error', ended: event.time, error: event.error, logTail: s.partial === '' ? s.logTail : [...s.logTail, s.partial].slice(-TAIL) }));
    case 'vertex.canceled':
      return update(state, event.vertex, (s) => ({ ...s, status: 'canceled', ended: event.time }));
    case 'transfer.started': {
      const name = transferName(event);
      const transfer: TtyTransfer = { name, kind: event.kind, current: 0, total: event.total, started: event.time };
      return { ...state, transfers: [...state.transfers.filter((t) => t.name !== name), transfer] };
    }
    case 'transfer.progress':
      return updateTransfer(state, transferName(event), (t) => ({ ...t, current: event.current, total: event.total }));
    case 'transfer.completed': {
      const name = transferName(event);
      const known = state.transfers.some((t) => t.name === name);
      const done = { current: event.total, total: event.total, ended: event.time, outcome: event.outcome };
      return known
        ? updateTransfer(state, name, (t) => ({ ...t, ...done }))
        : { ...state, transfers: [...state.transfers, { name, kind: event.kind, started: event.time - event.durationMs, ...done }] };
    }
    case 'registry.retry':
      return { ...state, retries: [...state.retries, retryText(event)].slice(-RETRIES_SHOWN) };
    case 'build.warning':
      return { ...state, warnings: [...state.warnings, warningText(event)] };
    case 'build.completed':
    case 'build.failed':
      return { ...state, ended: event.time };
    case 'vertex.progress':
    case 'cache.miss':
      return state;
  }
}

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

function secs(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/** The lines of one frame at time `now` for a terminal `width` columns wide. */
export function ttyFrame(state: TtyState, now: number, width: number): string[] {
  const end = state.ended ?? now;
  const finished = state.steps.filter((s) => s.status !== 'running').length;
  const lines = [`[+] Building ${secs(end - (state.started ?? now))} (${finished}/${Math.max(state.total, state.steps.length)})${state.ended !== undefined ? ' FINISHED' : ''}`];
  for (const step of state.steps) {
    const duration = secs((step.ended ?? now) - step.started);
    const prefix = step.status === 'cached' ? ' => CACHED ' : step.status === 'error' ? ' => ERROR ' : step.status === 'canceled' ? ' => CANCELED ' : ' => ';
    const label = clip(prefix + step.name, Math.max(10, width - duration.length - 1));
    lines.push(`${label.padEnd(Math.max(10, width - duration.length - 1))} ${duration}`);
    if (step.status === 'running' || step.status === 'error') {
      const tail = step.status === 'running' && step.partial !== '' ? [...step.logTail, step.partial].slice(-TAIL) : step.logTail;
      for (const line of tail) lines.push(clip(` => => # ${line.replace(/\r/g, '')}`, width));
    }
  }
  for (const transfer of state.transfers) {
    const duration = secs((transfer.ended ?? now) - transfer.started);
    const status = transfer.outcome === undefined ? `${formatBytes(transfer.current)} / ${formatBytes(transfer.total)}` : transfer.outcome === 'done' ? `${formatBytes(transfer.total)} done` : transfer.outcome === 'exists' ? 'already exists' : 'mounted';
    const label = clip(` => ${transfer.name} ${transfer.kind} ${status}`, Math.max(10, width - duration.length - 1));
    lines.push(`${label.padEnd(Math.max(10, width - duration.length - 1))} ${duration}`);
  }
  for (const retry of state.retries) lines.push(clip(`RETRY: ${retry}`, width));
  for (const warning of state.warnings) lines.push(clip(`WARNING: ${warning}`, width));
  return lines;
}

/**
 * Redraws a frame in place: moves the cursor up over the previous frame and rewrites only the lines
 * that changed (no full clear, so no flicker).
 */
export class TtyPainter {
  #previous: string[] = [];

  constructor(private readonly write: (text: string) => void) {}

  paint(lines: readonly string[]): void {
    let out = this.#previous.length > 0 ? `\x1b[${this.#previous.length}A\r` : '';
    const count = Math.max(lines.length, this.#previous.length);
    for (let i = 0; i < count; i++) {
      const line = lines[i];
      if (line === undefined) out += '\x1b[2K\n';
      else if (line === this.#previous[i]) out += '\x1b[1B\r';
      else out += `\x1b[2K${line}\n`;
    }
    if (lines.length < this.#previous.length) out += `\x1b[${this.#previous.length - lines.length}A\r`;
    this.#previous = [...lines];
    this.write(out);
  }
}

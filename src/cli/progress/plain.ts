/**
 * The plain progress format (BuildKit's `--progress=plain`): every vertex gets a number `#N` on first
 * sight; its start, log lines (with seconds since start), and end (`DONE 1.2s`, `CACHED`, `ERROR`)
 * are printed as they happen; so are finished blob transfers and retried registry requests (with why).
 * Rendering is a pure state transition: `render(state, event) → [state, text]`.
 */
import type { BuildEvent } from '../../events/index.js';
import { retryText, transferCompletedText, warningText } from './text.js';

export interface PlainState {
  readonly numbers: ReadonlyMap<string, number>;
  readonly names: ReadonlyMap<string, string>;
  readonly started: ReadonlyMap<string, number>;
  /** Text of a log line not yet terminated by a newline, per vertex. */
  readonly partial: ReadonlyMap<string, string>;
}

export const initialPlainState: PlainState = { numbers: new Map(), names: new Map(), started: new Map(), partial: new Map() };

function seconds(ms: number): string {
  return (Math.max(0, ms) / 1000).toFixed(1);
}

function withVertex(state: PlainState, vertex: string, name?: string): [PlainState, number, boolean] {
  const existing = state.numbers.get(vertex);
  if (existing !== undefined) return [state, existing, false];
  const numbers = new Map(state.numbers);
  const n = numbers.size + 1;
  numbers.set(vertex, n);
  const names = new Map(state.names);
  if (name !== undefined) names.set(vertex, name);
  return [{ ...state, numbers, names }, n, true];
}

export function renderPlain(state: PlainState, event: BuildEvent): [PlainState, string] {
  switch (event.type) {
    case 'build.started':
      return [state, ''];
    case 'vertex.started': {
      const [next, n] = withVertex(state, event.vertex, event.name);
      const started = new Map(next.started);
      started.set(event.vertex, event.time);
      return [{ ...next, started }, `\n#${n} ${event.name}\n`];
    }
    case 'vertex.cached': {
      const [next, n] = withVertex(state, event.vertex, event.name);
      return [next, `\n#${n} ${event.name}\n#${n} CACHED\n${event.reason !== undefined ? `#${n} cached: ${event.reason}\n` : ''}`];
    }
    case 'vertex.log': {
      const [next, n] = withVertex(state, event.vertex);
      const start = next.started.get(event.vertex) ?? event.time;
      const text = (next.partial.get(event.vertex) ?? '') + event.data;
      const lines = text.split('\n');
      const rest = lines.pop() ?? '';
      const partial = new Map(next.partial);
      partial.set(event.vertex, rest);
      const out = lines.map((line) => `#${n} ${seconds(event.time - start)} ${line}\n`).join('');
      return [{ ...next, partial }, out];
    }
    case 'vertex.progress':
      return [state, ''];
    case 'vertex.completed': {
      const [next, n] = withVertex(state, event.vertex);
      const flushed = flush(next, event.vertex, n, event.time);
      return [flushed[0], `${flushed[1]}#${n} DONE ${seconds(event.durationMs)}s\n`];
    }
    case 'vertex.failed': {
      const [next, n] = withVertex(state, event.vertex);
      const flushed = flush(next, event.vertex, n, event.time);
      return [flushed[0], `${flushed[1]}#${n} ERROR: ${event.error}\n`];
    }
    case 'vertex.canceled': {
      const [next, n] = withVertex(state, event.vertex);
      return [next, `#${n} CANCELED\n`];
    }
    case 'cache.miss': {
      const n = state.numbers.get(event.vertex);
      return [state, n === undefined ? '' : event.reasons.map((r) => `#${n} cache miss: ${r}\n`).join('')];
    }
    case 'transfer.started':
    case 'transfer.progress':
      return [state, ''];
    case 'transfer.completed':
      return [state, `${transferCompletedText(event)}\n`];
    case 'registry.retry':
      return [state, `RETRY: ${retryText(event)}\n`];
    case 'build.warning':
      return [state, `WARNING: ${warningText(event)}\n${event.detail !== undefined ? `  fix: ${event.detail}\n` : ''}`];
    case 'build.completed':
    case 'build.failed':
      return [state, ''];
  }
}

function flush(state: PlainState, vertex: string, n: number, time: number): [PlainState, string] {
  const rest = state.partial.get(vertex);
  if (rest === undefined || rest === '') return [state, ''];
  const partial = new Map(state.partial);
  partial.delete(vertex);
  const start = state.started.get(vertex) ?? time;
  return [{ ...state, partial }, `#${n} ${seconds(time - start)} ${rest}\n`];
}

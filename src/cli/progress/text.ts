/**
 * Words shared by the progress renderers: byte sizes, short digests, and the sentences for a retried
 * request and a finished transfer.
 */
import type { BuildEvent } from '../../events/index.js';

/** `1234567` → `1.23MB` (decimal units, as docker). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes}B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)}${units[unit]}`;
}

export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** `GET manifest …: 503 Service Unavailable, retry 1 of 4 in 0.5 s` (digests shortened to 12 digits; rawjson has them whole). */
export function retryText(event: Extract<BuildEvent, { type: 'registry.retry' }>): string {
  return `${event.what.replace(/sha256:([a-f0-9]{12})[a-f0-9]{52}/g, '$1')}: ${event.reason}, retry ${event.attempt} of ${Math.max(1, event.attempts - 1)} in ${(event.delayMs / 1000).toFixed(1)} s`;
}

/** The name of a transfer in one line: `pull 127.0.0.1:5000/library/busybox@1a2b3c4d5e6f`. */
export function transferName(event: { readonly direction: string; readonly ref: string; readonly digest: string }): string {
  return `${event.direction} ${event.ref}@${shortDigest(event.digest)}`;
}

const OUTCOME = { done: 'done', exists: 'already exists', mounted: 'mounted' } as const;

/** `pull 127.0.0.1:5000/library/busybox@1a2b3c4d5e6f: layer done, 2.10MB in 0.3s` */
export function transferCompletedText(event: Extract<BuildEvent, { type: 'transfer.completed' }>): string {
  const detail = event.outcome === 'done' ? `, ${formatBytes(event.bytes)} in ${(event.durationMs / 1000).toFixed(1)}s` : ` (${formatBytes(event.total)})`;
  return `${transferName(event)}: ${event.kind} ${OUTCOME[event.outcome]}${detail}`;
}

type WarningEvent = Extract<BuildEvent, { type: 'build.warning' }>;

/** A warning's line: `Dockerfile:7: JSONArgsRecommended: message` for a build check, the message alone otherwise. */
export function warningText(event: WarningEvent): string {
  const where = event.location === undefined ? '' : `${event.location.file}:${event.location.line}: `;
  return `${where}${event.rule !== undefined ? `${event.rule}: ` : ''}${event.message}`;
}

/** buildx's summary after the build: ` 2 warnings found:` and one ` - Rule: message (file:line)` per warning, with the fix. */
export function warningSummary(warnings: readonly WarningEvent[]): string {
  if (warnings.length === 0) return '';
  const lines = [` ${warnings.length === 1 ? '1 warning found' : `${warnings.length} warnings found`}:`];
  for (const w of warnings) {
    const where = w.location === undefined ? '' : ` (${w.location.file}:${w.location.line})`;
    lines.push(` - ${w.rule !== undefined ? `${w.rule}: ` : ''}${w.message}${where}`);
    if (w.detail !== undefined) lines.push(`   fix: ${w.detail}`);
  }
  return `\n${lines.join('\n')}\n`;
}

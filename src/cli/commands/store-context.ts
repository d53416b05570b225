/**
 * What the store commands share: the global `--root` flag, the engine built from flags and the
 * environment, interruption (Ctrl-C aborts with ABORTED), and human-readable sizes.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { StagecraftError, parsePlatform, phaseDone, type Platform } from '../../core/index.js';
import { createEngine, type Engine } from '../../engine/index.js';
import { PROGRESS_MODES, progressSink, type ProgressOutput } from '../progress/index.js';
import type { CliIo } from '../main.js';
import { currentUserNamespace } from '../../util/userns.js';

export { formatBytes, shortDigest } from '../progress/index.js';

export { addRootOption } from '../argv.js';

interface GlobalFlags {
  root?: string;
}

/**
 * Runs `fn` with an engine for the command's flags and a signal aborted by SIGINT/SIGTERM; closes
 * the engine on every path.
 */
export async function withEngine<T>(command: Command, fn: (engine: Engine, signal: AbortSignal) => Promise<T>): Promise<T> {
  const flags = command.optsWithGlobals<GlobalFlags>();
  const config = loadConfig({ env: process.env, flags: { root: flags.root }, rootless: currentUserNamespace() !== undefined });
  phaseDone('cli: config loaded');
  const engine = createEngine(config);
  const controller = new AbortController();
  const interrupt = (): void => controller.abort(new StagecraftError('ABORTED', 'interrupted', { hint: 'nothing partial was stored; run the command again to resume' }));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    return await fn(engine, controller.signal);
  } catch (error) {
    if (controller.signal.aborted) throw controller.signal.reason;
    throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    engine.close();
  }
}

/** A `--platform` flag's value (none when absent or empty: the command's default applies). */
export function platformOption(value: string | undefined): Platform | undefined {
  return value === undefined || value === '' ? undefined : parsePlatform(value, '--platform');
}

/**
 * The progress output of a transfer command (`pull`, `push`): the build's renderers, chosen by
 * `--progress`; nothing with `--quiet` or `--json` (their stdout is data, and stderr stays quiet).
 */
export function transferProgress(io: CliIo, flags: { progress?: string; quiet?: boolean; json?: boolean }): ProgressOutput {
  const mode = flags.quiet === true || flags.json === true ? 'quiet' : (flags.progress ?? 'auto');
  if (!(PROGRESS_MODES as readonly string[]).includes(mode)) {
    throw new StagecraftError('USAGE', `unknown --progress "${mode}"`, { hint: `use one of ${PROGRESS_MODES.join(', ')}` });
  }
  return progressSink(mode, io.stderr);
}

/** Renders rows as left-aligned columns separated by three spaces. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   ').trimEnd()).join('\n') + '\n';
}

/**
 * A duration in words, as docker prints ages (go-units HumanDuration): "Less than a second",
 * "5 seconds", "About a minute", "3 minutes", "About an hour", "5 hours", "3 days", "2 weeks",
 * "4 months", "2 years".
 */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** "2 hours ago" for an RFC 3339 time; "N/A" when there is none or it does not parse. */
export function timeAgo(created: string | undefined, now: number = Date.now()): string {
  const time = created === undefined ? Number.NaN : Date.parse(created);
  if (Number.isNaN(time)) return 'N/A';
  return `${humanDuration(now - time)} ago`;
}

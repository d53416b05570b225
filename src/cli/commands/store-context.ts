/**
 * What the store commands share: the global `--root` flag, the engine built from flags and the
 * environment, interruption (Ctrl-C aborts with ABORTED), and human-readable sizes.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/index.js';
import { StagecraftError, parsePlatform, type Platform } from '../../core/index.js';
import { createEngine, type Engine, type TransferProgress } from '../../engine/index.js';
import type { CliIo } from '../main.js';

/** Adds `--root` to the program once (any command that opens the state root reads it). */
export function addRootOption(program: Command): void {
  if (program.options.some((option) => option.long === '--root')) return;
  program.option('--root <dir>', 'state root (default: $STAGECRAFT_ROOT, /var/lib/stagecraft for root, ~/.local/share/stagecraft otherwise)');
}

interface GlobalFlags {
  root?: string;
}

/**
 * Runs `fn` with an engine for the command's flags and a signal aborted by SIGINT/SIGTERM; closes
 * the engine on every path.
 */
export async function withEngine<T>(command: Command, fn: (engine: Engine, signal: AbortSignal) => Promise<T>): Promise<T> {
  const flags = command.optsWithGlobals<GlobalFlags>();
  const config = loadConfig({ env: process.env, flags: { root: flags.root } });
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

/** One line per finished blob on stderr (libraries report; the CLI prints). */
export function progressPrinter(io: CliIo, enabled: boolean): (progress: TransferProgress) => void {
  return (progress) => {
    if (!enabled) return;
    if (progress.status === 'compressed') {
      io.stderr(`${shortDigest(progress.digest)}: layer compressed (${formatBytes(progress.total)} -> ${formatBytes(progress.current)})\n`);
      return;
    }
    const label = { exists: 'already exists', mounted: 'mounted', done: 'done' } as const;
    if (progress.status === 'exists' || progress.status === 'mounted' || progress.status === 'done') {
      io.stderr(`${shortDigest(progress.digest)}: ${progress.kind} ${label[progress.status]} (${formatBytes(progress.total)})\n`);
    }
  };
}

/** Renders rows as left-aligned columns separated by three spaces. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   ').trimEnd()).join('\n') + '\n';
}

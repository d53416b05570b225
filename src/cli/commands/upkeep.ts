/** `stagecraft du` and `stagecraft prune`: store usage by kind, and dropping build cache. */
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import { instructions } from '../../dockerfile/index.js';
import type { CliIo } from '../main.js';
import { addRootOption, formatBytes, withEngine } from './store-context.js';

interface PruneFlags {
  all?: boolean;
  force?: boolean;
  keepStorage?: string;
  filter?: string[];
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function registerUpkeep(program: Command, io: CliIo): void {
  addRootOption(program);
  program
    .command('du')
    .description('show the space the state root uses, by kind, and what prune --all would free (RECLAIMABLE)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const usage = await withEngine(command, (engine) => engine.du());
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(usage, null, 2)}\n`);
        return;
      }
      const free = usage.reclaimable;
      const rows: [string, number, number][] = [
        ['images', usage.images, free.images], ['build cache', usage.cache, free.cache], ['unreferenced blobs', usage.unreferenced, free.unreferenced],
        ['snapshots', usage.snapshots, free.snapshots], ['cache mounts', usage.cacheMounts, free.cacheMounts], ['failed step logs', usage.debug, free.debug], ['total', usage.total, free.total],
      ];
      const line = (k: string, size: string, reclaimable: string): string => `${k.padEnd(20)}${size.padStart(10)}${reclaimable.padStart(13)}`;
      io.stdout(`${[line('KIND', 'SIZE', 'RECLAIMABLE'), ...rows.map(([k, v, r]) => line(k, formatBytes(v), formatBytes(r)))].join('\n')}\n${'cache records'.padEnd(20)}${String(usage.cacheRecords).padStart(10)}\n`);
    });

  program
    .command('prune')
    .description('remove build cache (records unused for 48 h by default) and the blobs nothing needs any more')
    .option('-a, --all', 'remove all build cache, unpacked snapshots and cache mounts (tagged images stay)')
    .option('-f, --force', 'do not ask for confirmation (stagecraft never asks; accepted for compatibility)')
    .option('--keep-storage <size>', 'then remove least recently used cache until the store uses at most this much (e.g. 10gb)')
    .option('--filter <until=DURATION>', 'remove cache unused for longer than DURATION (e.g. until=24h)', collect)
    .addHelpText('after', '\nExamples:\n  stagecraft prune\n  stagecraft prune --filter until=24h --keep-storage 20gb\n  stagecraft prune --all --force')
    .action(async (flags: PruneFlags, command: Command) => {
      let olderThanMs: number | undefined;
      for (const filter of flags.filter ?? []) {
        const match = /^until=(.+)$/.exec(filter);
        const ns = match?.[1] === undefined ? undefined : instructions.parseGoDuration(match[1]);
        if (ns === undefined) throw new StagecraftError('USAGE', `unsupported --filter "${filter}"`, { hint: 'use --filter until=DURATION, e.g. until=24h' });
        olderThanMs = ns / 1e6;
      }
      let keepStorage: number | undefined;
      if (flags.keepStorage !== undefined) {
        keepStorage = instructions.parseRamBytes(flags.keepStorage);
        if (keepStorage === undefined) throw new StagecraftError('USAGE', `invalid --keep-storage "${flags.keepStorage}"`, { hint: 'sizes look like 512mb or 20gb' });
      }
      const result = await withEngine(command, (engine, signal) => engine.prune({ all: flags.all === true, olderThanMs, keepStorage, signal }));
      const debug = result.debugStatesRemoved > 0 ? `, ${result.debugStatesRemoved} kept failed steps` : '';
      io.stdout(`removed ${result.recordsRemoved} cache records${debug} and ${result.gc.removed.length} blobs; reclaimed ${formatBytes(result.reclaimedBytes)}\n`);
    });
}

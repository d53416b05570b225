/**
 * `stagecraft image history IMAGE`, as `docker history`. (`stagecraft history IMAGE` still reaches it,
 * with a deprecation note: `stagecraft history` is the build history, see build-history.ts.)
 */
import type { Command } from 'commander';
import type { HistoryEntry } from '../../engine/index.js';
import type { CliIo } from '../main.js';
import { formatBytes, shortDigest, table, timeAgo, withEngine } from './store-context.js';

interface HistoryFlags {
  json?: boolean;
  quiet?: boolean;
  trunc?: boolean;
  human?: boolean;
}

/** docker's CREATED BY column: tabs as spaces, cut to 45 characters with an ellipsis unless --no-trunc. */
function createdBy(text: string, trunc: boolean): string {
  const flat = text.replace(/[\t\n]/g, ' ');
  return trunc && flat.length > 45 ? `${flat.slice(0, 44)}…` : flat;
}

function render(entries: readonly HistoryEntry[], flags: HistoryFlags): string {
  const trunc = flags.trunc !== false;
  const id = (entry: HistoryEntry): string => (entry.id === undefined ? '<missing>' : trunc ? shortDigest(entry.id) : entry.id);
  if (flags.quiet === true) return entries.map((entry) => `${id(entry)}\n`).join('');
  const now = Date.now();
  const rows = [['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
  for (const entry of entries) {
    const created = flags.human === false ? (entry.created ?? '') : timeAgo(entry.created, now);
    rows.push([id(entry), created, createdBy(entry.createdBy, trunc), flags.human === false ? String(entry.size) : formatBytes(entry.size), entry.comment]);
  }
  return table(rows);
}

function addHistory(parent: Command, io: CliIo, prefix: string): Command {
  return parent
    .command('history')
    .addHelpText('after', `\nExamples:\n  stagecraft ${prefix}history app:1.0\n  stagecraft ${prefix}history --no-trunc --json app:1.0`)
    .description('show the history of a local image: each step, the layer it made (unpacked size) and when')
    .argument('<image>', 'image name, manifest digest or image ID')
    .option('--json', 'print the entries as JSON (raw values: sizes in bytes, RFC 3339 times)')
    .option('-q, --quiet', 'print only the image IDs')
    .option('--no-trunc', 'do not shorten the output')
    .option('-H, --human <bool>', 'print sizes and dates in human-readable form', (value: string) => value !== 'false', true)
    .action(async (image: string, flags: HistoryFlags, command: Command) => {
      const entries = await withEngine(command, (engine, signal) => engine.history(image, { signal }));
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(entries, null, 2)}\n`);
        return;
      }
      io.stdout(render(entries, flags));
    });
}

export function registerHistory(program: Command, io: CliIo): void {
  const image = program.commands.find((c) => c.name() === 'image')
    ?? program.command('image').description('image subcommands, as `docker image …`').addHelpText('after', '\nExamples:\n  stagecraft image history app:1.0');
  addHistory(image, io, 'image ');
}

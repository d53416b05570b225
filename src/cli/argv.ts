/**
 * What `main` does with argv before it knows which command runs: the global `--root` option, the
 * rewrites of legacy spellings, and finding the command's name, so that only the module of that
 * command is loaded (see main.ts). Imports nothing heavy: every command pays for this module.
 */
import type { Command } from 'commander';
import { StagecraftError } from '../core/index.js';
import { GLOBAL_VALUE_FLAGS } from './command-name.js';

/** Adds `--root` to the program once (any command that opens the state root reads it). */
export function addRootOption(program: Command): void {
  if (program.options.some((option) => option.long === '--root')) return;
  program.option('--root <dir>', 'state root (default: $STAGECRAFT_ROOT, /var/lib/stagecraft for root, ~/.local/share/stagecraft otherwise)');
}

export { commandName } from './command-name.js';

/** The legacy boolean flags, which pflag also accepts as `--rm=false` (see `normalizeLegacyBoolFlags`). */
const LEGACY_BOOLS = ['--compress', '--rm', '--force-rm', '--squash'];

/**
 * pflag accepts `--rm=false` for a boolean flag; commander does not. The legacy booleans are ignored
 * anyway, so `--X=true|false|1|0` becomes `--X` (or disappears when false). Stops at `--`.
 */
export function normalizeLegacyBoolFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (eq === -1 || !LEGACY_BOOLS.includes(name)) {
      out.push(arg);
      continue;
    }
    const value = arg.slice(eq + 1).toLowerCase();
    if (['1', 't', 'true'].includes(value)) out.push(name);
    else if (!['0', 'f', 'false'].includes(value)) throw new StagecraftError('USAGE', `invalid argument "${arg.slice(eq + 1)}" for "${name}" flag`, { hint: `${name} takes true or false` });
  }
  return out;
}

export const HISTORY_SUBCOMMANDS = ['ls', 'show', 'inspect', 'logs', 'rm', 'export', 'stats', 'annotate', 'push', 'help'] as const;

/** Options of `image history` that take a value (so their value is not mistaken for the image). */
const IMAGE_HISTORY_VALUE_FLAGS = new Set(['-H', '--human']);

/**
 * `stagecraft history IMAGE …` → `stagecraft image history IMAGE …` when the first operand after
 * `history` is not one of its subcommands; `note` is told once. Other argv is returned unchanged.
 */
export function routeImageHistory(argv: readonly string[], note: (text: string) => void): readonly string[] {
  let i = 0;
  while (i < argv.length && (argv[i] ?? '').startsWith('-')) i += GLOBAL_VALUE_FLAGS.has(argv[i] ?? '') ? 2 : 1;
  if (argv[i] !== 'history') return argv;
  let j = i + 1;
  while (j < argv.length && (argv[j] ?? '').startsWith('-') && argv[j] !== '-') j += IMAGE_HISTORY_VALUE_FLAGS.has(argv[j] ?? '') || GLOBAL_VALUE_FLAGS.has(argv[j] ?? '') ? 2 : 1;
  const operand = argv[j];
  if (operand === undefined || (HISTORY_SUBCOMMANDS as readonly string[]).includes(operand)) return argv;
  note(`note: \`stagecraft history IMAGE\` is deprecated; use \`stagecraft image history ${operand}\` (\`stagecraft history\` lists builds)\n`);
  return [...argv.slice(0, i), 'image', ...argv.slice(i)];
}

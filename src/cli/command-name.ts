/** The command's name in argv; shared by main.ts and the bundle's loader (cli-loader.ts), so it imports nothing. */

/** Global options that take a value. */
export const GLOBAL_VALUE_FLAGS: ReadonlySet<string> = new Set(['--root']);

/** The first operand of argv (the command's name), skipping the global options; undefined if none (or after `--`). */
export function commandName(argv: readonly string[]): string | undefined {
  let i = 0;
  while (i < argv.length && (argv[i] ?? '').startsWith('-') && argv[i] !== '--') i += GLOBAL_VALUE_FLAGS.has(argv[i] ?? '') ? 2 : 1;
  return argv[i] === '--' ? undefined : argv[i];
}

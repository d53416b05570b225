import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { withEngine } from './store-context.js';

export function registerRmi(program: Command, io: CliIo): void {
  program
    .command('rmi')
    .description('remove image names from the local store (a digest or image ID removes all its names); space is freed by garbage collection')
    .argument('<refs...>', 'images to remove')
    .option('--json', 'print the removed names as JSON')
    .action(async (refs: string[], flags: { json?: boolean }, command: Command) => {
      const result = await withEngine(command, (engine) => engine.rmi(refs));
      if (flags.json === true) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      else for (const name of result.untagged) io.stdout(`Untagged: ${name}\n`);
    });
}

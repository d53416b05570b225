import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { withEngine } from './store-context.js';

export function registerTag(program: Command, _io: CliIo): void {
  program
    .command('tag')
    .description('give a local image another name')
    .argument('<source>', 'existing image (name, digest or image ID)')
    .argument('<target>', 'new name, e.g. localhost:5000/team/app:v2')
    .action(async (source: string, target: string, _flags: unknown, command: Command) => {
      await withEngine(command, (engine) => engine.tag(source, target));
    });
}

import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { StagecraftError, familiarImageRef, parseImageRef } from '../../core/index.js';
import type { CliIo } from '../main.js';
import { platformOption, withEngine } from './store-context.js';

interface LoadFlags {
  input?: string;
  platform?: string;
  json?: boolean;
}

export function registerLoad(program: Command, io: CliIo): void {
  program
    .command('load')
    .description('read images from a docker-archive or OCI archive into the local store')
    .option('-i, --input <file>', 'read from this file (default: stdin)')
    .option('--platform <os/arch[/variant]>', 'platform to take from a multi-platform archive (default: this machine)')
    .option('--json', 'print the loaded images as JSON')
    .action(async (flags: LoadFlags, command: Command) => {
      if (flags.input === undefined && process.stdin.isTTY) {
        throw new StagecraftError('USAGE', 'no archive given: stdin is a terminal', { hint: 'pass -i FILE or pipe the archive into stagecraft load' });
      }
      const input = flags.input === undefined ? process.stdin : createReadStream(flags.input);
      const opened = new Promise<void>((resolve, reject) => {
        if (flags.input === undefined) resolve();
        input.once('open', () => resolve());
        input.once('error', (error: NodeJS.ErrnoException) => {
          reject(error.code === 'ENOENT' ? new StagecraftError('FILE_NOT_FOUND', `cannot read ${flags.input ?? ''}: no such file`, { hint: 'check the path given with -i' }) : error);
        });
      });
      await opened;
      const result = await withEngine(command, (engine, signal) =>
        engine.load(input, { source: flags.input ?? 'stdin', platform: platformOption(flags.platform), signal }));
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      for (const image of result.images) {
        if (image.names.length === 0) io.stdout(`Loaded image ID: ${image.id}\n`);
        for (const name of image.names) io.stdout(`Loaded image: ${familiarImageRef(parseImageRef(name, { defaultTag: false }))}\n`);
      }
    });
}

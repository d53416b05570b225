import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { transferProgress, withEngine } from './store-context.js';

interface PushFlags {
  json?: boolean;
  quiet?: boolean;
  progress?: string;
}

export function registerPush(program: Command, io: CliIo): void {
  program
    .command('push')
    .description('upload a local image to a registry (credentials from the docker config)')
    .argument('<ref>', 'local image to push')
    .argument('[destination]', 'push under this name instead (default: the image\'s own name)')
    .option('-q, --quiet', 'print only the manifest digest')
    .option('--json', 'print the result as JSON')
    .option('--progress <mode>', 'progress on stderr: auto, tty, plain, rawjson or quiet (as build)', 'auto')
    .action(async (ref: string, destination: string | undefined, flags: PushFlags, command: Command) => {
      const progress = transferProgress(io, flags);
      const result = await withEngine(command, async (engine, signal) => {
        try {
          return await engine.push(ref, destination, { signal, events: progress.sink });
        } finally {
          progress.finish();
        }
      });
      if (flags.json === true) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      else if (flags.quiet === true) io.stdout(`${result.digest}\n`);
      else io.stdout(`${result.name}: digest: ${result.digest} size: ${result.size}\n`);
    });
}

import type { Command } from 'commander';
import { familiarImageRef, parseImageRef } from '../../core/index.js';
import type { CliIo } from '../main.js';
import { formatBytes, platformOption, transferProgress, withEngine } from './store-context.js';

interface PullFlags {
  platform?: string;
  json?: boolean;
  quiet?: boolean;
  progress?: string;
}

export function registerPull(program: Command, io: CliIo): void {
  program
    .command('pull')
    .description('download an image from a registry into the local store')
    .argument('<ref>', 'image reference, e.g. busybox:1.36 or localhost:5000/team/app@sha256:…')
    .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image (default: this machine)')
    .option('-q, --quiet', 'print only the manifest digest')
    .option('--json', 'print the result as JSON')
    .option('--progress <mode>', 'progress on stderr: auto, tty, plain, rawjson or quiet (as build)', 'auto')
    .action(async (ref: string, flags: PullFlags, command: Command) => {
      const progress = transferProgress(io, flags);
      const result = await withEngine(command, async (engine, signal) => {
        try {
          return await engine.pull(ref, { platform: platformOption(flags.platform), signal, events: progress.sink });
        } finally {
          progress.finish();
        }
      });
      if (flags.json === true) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      else if (flags.quiet === true) io.stdout(`${result.digest}\n`);
      else {
        io.stdout(`${familiarImageRef(parseImageRef(result.name, { defaultTag: false }))}: manifest digest ${result.digest} (${result.platform}${result.indexDigest === undefined ? '' : `, index digest ${result.indexDigest}`}), downloaded ${formatBytes(result.downloadedBytes)}\n`);
      }
    });
}

import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import type { CliIo } from '../main.js';
import { withEngine } from './store-context.js';

interface SaveFlags {
  output?: string;
  format: string;
}

export function registerSave(program: Command, io: CliIo): void {
  program
    .command('save')
    .description('write local images to a tar archive (docker-archive for `docker load`, or an OCI archive)')
    .argument('<refs...>', 'images to save')
    .option('-o, --output <file>', 'write to this file (default: stdout)')
    .option('--format <format>', 'docker or oci', 'docker')
    .action(async (refs: string[], flags: SaveFlags, command: Command) => {
      if (flags.format !== 'docker' && flags.format !== 'oci') {
        throw new StagecraftError('USAGE', `unknown --format "${flags.format}"`, { hint: 'use --format docker or --format oci' });
      }
      const format = flags.format;
      if (flags.output === undefined && process.stdout.isTTY) {
        throw new StagecraftError('USAGE', 'refusing to write a tar archive to the terminal', { hint: 'pass -o FILE or redirect stdout' });
      }
      const result = await withEngine(command, (engine, signal) => engine.save(refs, { format, output: flags.output ?? process.stdout, signal }));
      if (flags.output !== undefined) {
        io.stderr(`saved ${result.images.length} image${result.images.length === 1 ? '' : 's'} (${format} archive) to ${flags.output}\n`);
      }
    });
}

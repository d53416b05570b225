import type { Command } from 'commander';
import { parseImageRef, familiarName } from '../../core/index.js';
import type { CliIo } from '../main.js';
import { formatBytes, shortDigest, table, withEngine } from './store-context.js';

export function registerImages(program: Command, io: CliIo): void {
  program
    .command('images')
    .description('list the images in the local store')
    .option('--json', 'print the list as JSON')
    .action(async (flags: { json?: boolean }, command: Command) => {
      const list = await withEngine(command, (engine) => engine.images());
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      const rows = [['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'PLATFORM', 'SIZE']];
      for (const image of list) {
        const ref = parseImageRef(image.name, { defaultTag: false });
        rows.push([familiarName(ref), ref.tag ?? '<none>', shortDigest(image.digest), shortDigest(image.id), image.platform ?? '', formatBytes(image.size)]);
      }
      io.stdout(table(rows));
    });
}

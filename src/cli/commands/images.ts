import type { Command } from 'commander';
import { parseImageRef, familiarName } from '../../core/index.js';
import type { CliIo } from '../main.js';
import { formatBytes, shortDigest, table, timeAgo, withEngine } from './store-context.js';

interface ImagesFlags {
  json?: boolean;
  quiet?: boolean;
  digests?: boolean;
  trunc?: boolean;
}

export function registerImages(program: Command, io: CliIo): void {
  program
    .command('images')
    .description('list the images in the local store (IMAGE ID is the config digest, SIZE the unpacked size, as docker)')
    .option('--json', 'print the list as JSON (raw values: digests, sizes in bytes, RFC 3339 times)')
    .option('-q, --quiet', 'print only the image IDs')
    .option('--digests', 'show the manifest digest')
    .option('--no-trunc', 'do not shorten the image IDs')
    .action(async (flags: ImagesFlags, command: Command) => {
      const list = await withEngine(command, (engine) => engine.images());
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(list, null, 2)}\n`);
        return;
      }
      const id = (digest: string): string => (flags.trunc === false ? digest : shortDigest(digest));
      if (flags.quiet === true) {
        const ids = [...new Set(list.map((image) => id(image.id)))];
        io.stdout(ids.map((i) => `${i}\n`).join(''));
        return;
      }
      const digests = flags.digests === true;
      const rows = [['REPOSITORY', 'TAG', ...(digests ? ['MANIFEST DIGEST'] : []), 'IMAGE ID', 'PLATFORM', 'CREATED', 'SIZE']];
      const now = Date.now();
      for (const image of list) {
        const ref = parseImageRef(image.name, { defaultTag: false });
        rows.push([familiarName(ref), ref.tag ?? '<none>', ...(digests ? [image.digest] : []), id(image.id), image.platform ?? '', timeAgo(image.created, now), formatBytes(image.size)]);
      }
      io.stdout(table(rows));
    });
}

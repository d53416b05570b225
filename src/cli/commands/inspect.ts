import type { Command } from 'commander';
import type { CliIo } from '../main.js';
import { formatBytes, table, withEngine } from './store-context.js';

export function registerInspect(program: Command, io: CliIo): void {
  program
    .command('inspect')
    .description('show a local image: manifest digest, config and layers with sizes')
    .argument('<ref>', 'image name, manifest digest or image ID')
    .option('--json', 'print everything as JSON (manifest and config included)')
    .action(async (ref: string, flags: { json?: boolean }, command: Command) => {
      const image = await withEngine(command, (engine) => engine.inspect(ref));
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(image, null, 2)}\n`);
        return;
      }
      const lines = [
        `Name:       ${image.name}`,
        `Digest:     ${image.digest}`,
        `Media type: ${image.mediaType}`,
        ...(image.indexDigest === undefined ? [] : [`Index:      ${image.indexDigest}`]),
        `Platform:   ${image.platform ?? ''}`,
        `Created:    ${image.created ?? ''}`,
        `Config:     ${image.config.digest} (${formatBytes(image.config.size)})`,
        `Size:       ${formatBytes(image.size)}`,
        `Layers:     ${image.layers.length}`,
      ];
      io.stdout(`${lines.join('\n')}\n`);
      if (image.layers.length > 0) {
        io.stdout(table([['  DIGEST', 'SIZE', 'MEDIA TYPE'], ...image.layers.map((layer) => [`  ${layer.digest}`, formatBytes(layer.size), layer.mediaType])]));
      }
    });
}

import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import type { LocalInspect, RemoteInspect } from '../../engine/index.js';
import type { CliIo } from '../main.js';
import { formatBytes, table, withEngine } from './store-context.js';

interface InspectFlags {
  json?: boolean;
  raw?: boolean;
  format?: string;
}

/**
 * The `--format` templates buildx imagetools inspect has for attestations. Go templates are not
 * implemented: these two forms are recognised (spaces inside the braces are free), any other is a
 * USAGE error naming them.
 */
const FORMATS = { SBOM: /^\{\{\s*json\s+\.SBOM\s*\}\}$/, Provenance: /^\{\{\s*json\s+\.Provenance\s*\}\}$/ } as const;

function parseFormat(format: string): keyof typeof FORMATS {
  for (const [key, re] of Object.entries(FORMATS)) if (re.test(format.trim())) return key as keyof typeof FORMATS;
  throw new StagecraftError('USAGE', `unsupported --format ${JSON.stringify(format)}`, { hint: "use --format '{{json .SBOM}}' or --format '{{json .Provenance}}' (or --json for everything)" });
}

function localText(image: LocalInspect): string {
  const lines = [
    `Name:            ${image.name}`,
    `Image ID:        ${image.id}`,
    `Manifest digest: ${image.digest}`,
    ...(image.indexDigest === undefined ? [] : [`Index digest:    ${image.indexDigest}`]),
    `Media type:      ${image.mediaType}`,
    `Platform:        ${image.platform ?? ''}`,
    `Created:         ${image.created ?? ''}`,
    `Config:          ${image.config.digest} (${formatBytes(image.config.size)})`,
    `Size:            ${formatBytes(image.size)} unpacked, ${formatBytes(image.storedSize)} stored`,
    `Layers:          ${image.layers.length}`,
  ];
  const layers = image.layers.length === 0 ? '' : table([['  DIGEST', 'SIZE', 'MEDIA TYPE'], ...image.layers.map((layer) => [`  ${layer.digest}`, formatBytes(layer.size), layer.mediaType])]);
  return `${lines.join('\n')}\n${layers}`;
}

/** As `docker buildx imagetools inspect`: Name, MediaType, Digest, then the manifests of an index. */
function remoteText(image: RemoteInspect): string {
  const lines = [
    `Name:            ${image.name}`,
    `Media type:      ${image.mediaType}`,
    `${image.manifests === undefined ? 'Manifest digest:' : 'Index digest:   '} ${image.digest}`,
  ];
  if (image.config !== undefined) lines.push(`Image ID:        ${image.config.digest}`);
  if (image.layers !== undefined) lines.push(`Layers:          ${image.layers.length}`);
  let text = `${lines.join('\n')}\n`;
  if (image.layers !== undefined && image.layers.length > 0) {
    text += table([['  DIGEST', 'SIZE', 'MEDIA TYPE'], ...image.layers.map((layer) => [`  ${layer.digest}`, formatBytes(layer.size), layer.mediaType])]);
  }
  if (image.manifests !== undefined) {
    text += '\nManifests:\n';
    text += image.manifests.map((m) => [
      `  Name:       ${m.name}`,
      `  Media type: ${m.mediaType}`,
      `  Platform:   ${m.platform ?? ''}`,
    ].join('\n')).join('\n\n');
    text += '\n';
  }
  return text;
}

export function registerInspect(program: Command, io: CliIo): void {
  program
    .command('inspect')
    .description('show an image: a local one (by name, manifest digest or image ID) or, if the store has no such name, its manifest or index from the registry')
    .argument('<ref>', 'image name, manifest digest or image ID')
    .option('--json', 'print everything as JSON (manifest and config included)')
    .option('--raw', 'print the manifest or index bytes exactly as stored or served')
    .option('--format <template>', "print the image's attestations: '{{json .SBOM}}' (SPDX) or '{{json .Provenance}}' (SLSA), as buildx imagetools inspect")
    .action(async (ref: string, flags: InspectFlags, command: Command) => {
      if (flags.format !== undefined) {
        const key = parseFormat(flags.format);
        const attestations = await withEngine(command, (engine, signal) => engine.attestations(ref, { signal }));
        io.stdout(`${JSON.stringify(attestations[key], null, 2)}\n`);
        return;
      }
      const image = await withEngine(command, (engine, signal) => engine.inspectAny(ref, { signal }));
      if (flags.raw === true) {
        process.stdout.write(image.raw);
        return;
      }
      if (flags.json === true) {
        const { raw, ...rest } = image;
        const value = image.source === 'registry' ? { ...rest, manifest: JSON.parse(Buffer.from(raw).toString('utf8')) as unknown } : rest;
        io.stdout(`${JSON.stringify(value, null, 2)}\n`);
        return;
      }
      io.stdout(image.source === 'local' ? localText(image) : remoteText(image));
    });
}

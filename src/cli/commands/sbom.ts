/**
 * `stagecraft sbom IMAGE`: the packages of an image (from the store, else pulled from its registry)
 * as syft's table, SPDX 2.3 JSON or CycloneDX 1.6 JSON, on stdout or into a file.
 */
import type { Command } from 'commander';
import { sbomTable, toCycloneDx, toSpdx } from '../../attest/index.js';
import { StagecraftError } from '../../core/index.js';
import { writeFileAtomic } from '../../util/atomic.js';
import type { CliIo } from '../main.js';
import { packageVersion } from '../version.js';
import { platformOption, transferProgress, withEngine } from './store-context.js';

export const SBOM_FORMATS = ['table', 'spdx-json', 'cyclonedx-json'] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];

interface SbomFlags {
  format?: string;
  output?: string;
  platform?: string;
  progress?: string;
}

export function parseSbomFormat(value: string | undefined): SbomFormat {
  const format = value ?? 'table';
  if ((SBOM_FORMATS as readonly string[]).includes(format)) return format as SbomFormat;
  throw new StagecraftError('USAGE', `unknown --format "${format}"`, { hint: `use one of ${SBOM_FORMATS.join(', ')}` });
}

/** The document's creation time: SOURCE_DATE_EPOCH when set (reproducible documents), else now. */
function createdAt(): Date {
  const text = process.env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return new Date();
  if (!/^\d+$/u.test(text)) throw new StagecraftError('USAGE', `invalid SOURCE_DATE_EPOCH "${text}"`, { hint: 'SOURCE_DATE_EPOCH is a Unix time in seconds' });
  return new Date(Number(text) * 1000);
}

export function registerSbom(program: Command, io: CliIo): void {
  program
    .command('sbom')
    .description('list the packages of an image (from the store, else its registry) as a table, SPDX or CycloneDX')
    .argument('<image>', 'image name, manifest digest or image ID; a reference the store does not hold is pulled')
    .option('--format <format>', `output format: ${SBOM_FORMATS.join(', ')}`, 'table')
    .option('-o, --output <file>', 'write the document to a file instead of stdout')
    .option('--platform <os/arch[/variant]>', 'platform to pull when the image comes from a registry (default: this machine)')
    .option('--progress <mode>', 'pull progress on stderr: auto, tty, plain, rawjson or quiet', 'auto')
    .addHelpText('after', '\nExamples:\n  stagecraft sbom app:1.0\n  stagecraft sbom --format spdx-json -o app.spdx.json app:1.0\n  stagecraft sbom --format cyclonedx-json localhost:5000/team/app:1.0')
    .action(async (image: string, flags: SbomFlags, command: Command) => {
      const format = parseSbomFormat(flags.format);
      const created = createdAt();
      const platform = platformOption(flags.platform);
      const progress = transferProgress(io, flags);
      const scanned = await withEngine(command, async (engine, signal) => {
        try {
          return await engine.sbom(image, { platform, signal, events: progress.sink, warn: (message) => io.stderr(`warning: ${message}\n`) });
        } finally {
          progress.finish();
        }
      });
      const info = { name: scanned.name, subjectDigest: scanned.digest, created, toolVersion: packageVersion() };
      const text = format === 'table'
        ? sbomTable(scanned.result)
        : `${JSON.stringify(format === 'spdx-json' ? toSpdx(scanned.result, info) : toCycloneDx(scanned.result, info), null, 2)}\n`;
      if (flags.output === undefined || flags.output === '-') io.stdout(text);
      else await writeFileAtomic(flags.output, text);
    });
}

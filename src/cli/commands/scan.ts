/**
 * `stagecraft scan secrets IMAGE`: the secret scan of an image (from the store, else pulled from its
 * registry): every layer including files later layers delete, the config and its history. Prints a
 * table (layer, path, line, rule, the Dockerfile instruction that made the layer, the value's
 * fingerprint) or JSON; exits 1 when a secret was found, 0 when none was.
 */
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import type { SecretFinding } from '../../scan/index.js';
import { ExitStatus } from '../exit-status.js';
import type { CliIo } from '../main.js';
import { parseBytes } from '../run-flags.js';
import { formatBytes, platformOption, shortDigest, table, transferProgress, withEngine } from './store-context.js';

export const SECRET_SCAN_FORMATS = ['table', 'json'] as const;
export type SecretScanFormat = (typeof SECRET_SCAN_FORMATS)[number];

/** The exit status when the scan found a secret (errors keep their own, docs/errors.md). */
export const SECRETS_FOUND_EXIT = 1;

interface ScanSecretsFlags {
  format?: string;
  maxFileSize?: string;
  platform?: string;
  progress?: string;
}

function parseFormat(value: string | undefined): SecretScanFormat {
  const format = value ?? 'table';
  if ((SECRET_SCAN_FORMATS as readonly string[]).includes(format)) return format as SecretScanFormat;
  throw new StagecraftError('USAGE', `unknown --format "${format}"`, { hint: `use one of ${SECRET_SCAN_FORMATS.join(', ')}` });
}

function maxFileSize(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = parseBytes('--max-file-size', value);
  if (bytes < 1) throw new StagecraftError('USAGE', `invalid --max-file-size "${value}": must be at least 1 byte`, { hint: 'e.g. --max-file-size 10m (the default)' });
  return bytes;
}

function where(finding: SecretFinding): string {
  if (finding.site !== 'layer') return finding.site;
  return `layer ${finding.layer?.index ?? '?'}${finding.deleted === true ? ' (deleted)' : ''}`;
}

function instruction(finding: SecretFinding): string {
  const source = finding.source;
  if (source === undefined) return '';
  const at = source.line > 0 ? `${source.file}:${source.line}` : source.file;
  return source.instruction === undefined ? at : `${at} ${source.instruction}`;
}

/** The findings as columns; the instruction last (it is the longest). */
export function secretTable(findings: readonly SecretFinding[]): string {
  const rows = [['LAYER', 'PATH', 'LINE', 'RULE', 'FINGERPRINT', 'DOCKERFILE'], ...findings.map((f) => [where(f), f.path, f.line === undefined ? '' : String(f.line), f.rule, f.fingerprint, instruction(f)])];
  return table(rows);
}

export function registerScan(program: Command, io: CliIo): Command {
  const scan = program.command('scan').description('scan an image for secrets (scan secrets) or vulnerabilities');
  registerScanSecrets(scan, io);
  return scan;
}

export function registerScanSecrets(scan: Command, io: CliIo): void {
  scan
    .command('secrets')
    .description('find secrets in every layer of an image (files later layers delete included), its config and history; exit 1 when one is found')
    .argument('<image>', 'image name, manifest digest or image ID; a reference the store does not hold is pulled')
    .option('--format <format>', `output format: ${SECRET_SCAN_FORMATS.join(', ')}`, 'table')
    .option('--max-file-size <size>', 'skip files larger than this (bytes, or with a unit: 512k, 10m)', '10m')
    .option('--platform <os/arch[/variant]>', 'platform to pull when the image comes from a registry (default: this machine)')
    .option('--progress <mode>', 'pull progress on stderr: auto, tty, plain, rawjson or quiet', 'auto')
    .addHelpText('after', `\nExit status: 0 no secret found, ${SECRETS_FOUND_EXIT} secrets found, other codes for errors (docs/errors.md).\nValues are never printed: each finding shows the value's fingerprint (sha256: + 16 hex digits of its sha256).\n\nExamples:\n  stagecraft scan secrets app:1.0\n  stagecraft scan secrets --format json localhost:5000/team/app:1.0\n  stagecraft scan secrets --max-file-size 50m app:1.0`)
    .action(async (image: string, flags: ScanSecretsFlags, command: Command) => {
      const format = parseFormat(flags.format);
      const maxFileBytes = maxFileSize(flags.maxFileSize);
      const platform = platformOption(flags.platform);
      const progress = transferProgress(io, { ...flags, json: format === 'json' });
      const scanned = await withEngine(command, async (engine, signal) => {
        try {
          return await engine.scanSecrets(image, { platform, maxFileBytes, signal, events: progress.sink, warn: (message) => io.stderr(`warning: ${message}\n`) });
        } finally {
          progress.finish();
        }
      });
      const { report } = scanned;
      if (format === 'json') {
        io.stdout(`${JSON.stringify({ image: scanned.name, digest: scanned.digest, source: scanned.source, ...report }, null, 2)}\n`);
      } else {
        const summary = `${formatBytes(report.scannedBytes)} of text scanned in ${shortDigest(scanned.digest)}, ${report.skippedFiles} binary or oversized files skipped`;
        if (report.findings.length === 0) io.stdout(`no secrets found (${summary})\n`);
        else io.stdout(`${secretTable(report.findings)}\n${report.findings.length} secret${report.findings.length === 1 ? '' : 's'} found (${summary})\n`);
      }
      if (report.findings.length > 0) throw new ExitStatus(SECRETS_FOUND_EXIT);
    });
}

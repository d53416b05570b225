/**
 * `stagecraft scan vulns IMAGE`: the image's packages (its SBOM, from the store or its registry)
 * against the Debian mirror's security data and an imported OSV directory, as a table, JSON, or the
 * image's CycloneDX BOM with a vulnerabilities section. With no data it says "no vulnerability data".
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { toCycloneDx } from '../../attest/index.js';
import { StagecraftError } from '../../core/index.js';
import { writeFileAtomic } from '../../util/atomic.js';
import type { CliIo } from '../main.js';
import { packageVersion } from '../version.js';
import { platformOption, transferProgress, withEngine } from './store-context.js';

export const VULN_FORMATS = ['table', 'json', 'cyclonedx'] as const;
export type VulnFormat = (typeof VULN_FORMATS)[number];

interface ScanVulnsFlags {
  vulnDb?: string;
  format?: string;
  offline?: boolean;
  debianMirror?: string;
  output?: string;
  platform?: string;
  progress?: string;
}

export function parseVulnFormat(value: string | undefined): VulnFormat {
  const format = value ?? 'table';
  if ((VULN_FORMATS as readonly string[]).includes(format)) return format as VulnFormat;
  throw new StagecraftError('USAGE', `unknown --format "${format}"`, { hint: `use one of ${VULN_FORMATS.join(', ')}` });
}

/** `--vuln-db DIR`: an existing directory, checked before any work. */
export async function vulnDbOption(value: string | undefined): Promise<string | undefined> {
  if (value === undefined || value === '') return undefined;
  const dir = resolve(value);
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true) {
    throw new StagecraftError('FILE_NOT_FOUND', `--vuln-db ${JSON.stringify(value)} is not a directory`, { hint: 'give a directory of OSV JSON files (one advisory per file, any depth)' });
  }
  return dir;
}

/** `--debian-mirror URL`: an http(s) URL of a Debian archive. */
export function debianMirrorOption(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new StagecraftError('USAGE', `--debian-mirror ${JSON.stringify(value)} is not a URL`, { hint: 'e.g. --debian-mirror http://deb.debian.org/debian (its security archive is the -security sibling)' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new StagecraftError('USAGE', `--debian-mirror must be http:// or https://, got ${url.protocol}`, { hint: 'e.g. --debian-mirror http://deb.debian.org/debian' });
  return value;
}

/** The `scan` parent command: the one already registered, else a new one. */
export function scanParent(program: Command): Command {
  return program.commands.find((c) => c.name() === 'scan') ?? program.command('scan').description('scan an image (vulnerabilities, secrets)');
}

export function registerScanVulns(scan: Command, io: CliIo): void {
  scan
    .command('vulns')
    .description('check an image\'s packages against the Debian mirror\'s security data and an OSV directory')
    .argument('<image>', 'image name, manifest digest or image ID; a reference the store does not hold is pulled')
    .option('--vuln-db <dir>', 'a directory of OSV JSON advisories (npm, PyPI, Go, Debian, Alpine)')
    .option('--format <format>', `output format: ${VULN_FORMATS.join(', ')}`, 'table')
    .option('--offline', 'use only cached Debian data (no network)')
    .option('--debian-mirror <url>', 'Debian archive URL (default: this machine\'s apt sources)')
    .option('-o, --output <file>', 'write the report to a file instead of stdout')
    .option('--platform <os/arch[/variant]>', 'platform to pull when the image comes from a registry (default: this machine)')
    .option('--progress <mode>', 'pull progress on stderr: auto, tty, plain, rawjson or quiet', 'auto')
    .addHelpText('after', '\nExamples:\n  stagecraft scan vulns app:1.0\n  stagecraft scan vulns --vuln-db ./osv --format json app:1.0\n  stagecraft scan vulns --offline --format cyclonedx -o app.cdx.json app:1.0')
    .action(async (image: string, flags: ScanVulnsFlags, command: Command) => {
      const format = parseVulnFormat(flags.format);
      const osvDir = await vulnDbOption(flags.vulnDb);
      const debianMirror = debianMirrorOption(flags.debianMirror);
      const platform = platformOption(flags.platform);
      const progress = transferProgress(io, { progress: format === 'table' ? (flags.progress ?? 'auto') : 'quiet' });
      const warn = (message: string): void => io.stderr(`warning: ${message}\n`);
      // Loaded when the command runs: no other command pays for the scanner's schemas.
      const { scanVulnerabilities, vulnSummary, vulnTable, withVulnerabilities } = await import('../../scan/index.js');
      const { scanned, report } = await withEngine(command, async (engine, signal) => {
        let sbom;
        try {
          sbom = await engine.sbom(image, { platform, signal, events: progress.sink, warn });
        } finally {
          progress.finish();
        }
        const found = await scanVulnerabilities({
          packages: sbom.result.packages,
          distro: sbom.result.distro,
          data: { stateRoot: engine.config.stateRoot, osvDir, debianMirror, offline: flags.offline === true },
          warn,
          signal,
        });
        return { scanned: sbom, report: found };
      });
      let text: string;
      if (format === 'table') text = `${scanned.name} (${scanned.digest})\n${vulnTable(report)}`;
      else if (format === 'json') text = `${JSON.stringify({ image: { name: scanned.name, digest: scanned.digest }, summary: vulnSummary(report), ...report }, null, 2)}\n`;
      else {
        const bom = toCycloneDx(scanned.result, { name: scanned.name, subjectDigest: scanned.digest, created: new Date(report.finishedAt ?? Date.now()), toolVersion: packageVersion() });
        text = `${JSON.stringify(withVulnerabilities(bom, report), null, 2)}\n`;
      }
      if (flags.output === undefined || flags.output === '-') io.stdout(text);
      else await writeFileAtomic(flags.output, text);
    });
}

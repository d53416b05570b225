/**
 * The scan step of the export pipeline (DESIGN.md: assemble → attest → scan → policy gate → sign →
 * export): the secret scan of every layer, the config, the provenance and the build log, and the
 * vulnerability scan of the final filesystem's packages. The scanners (scan/) are passed in by the
 * engine; this step decides what runs, makes the vuln attestation and the summaries the CLI prints.
 */
import type { Distro, SbomPackage } from '../attest/index.js';
import type { Content } from '../content/index.js';
import { StagecraftError, closest, type Digest } from '../core/index.js';
import { SEVERITIES, type InstructionSource, type SecretReport, type VulnReport } from '../scan/index.js';
import type { Attestation } from './attest.js';

export const SCAN_KINDS = ['secrets', 'vulns'] as const;
export type ScanKind = (typeof SCAN_KINDS)[number];

export interface ScanRequest {
  readonly secrets: boolean;
  readonly vulns: boolean;
}

/** cosign's vulnerability attestation (specs/COSIGN_VULN_ATTESTATION_SPEC.md). */
export const VULN_PREDICATE_TYPE = 'https://cosign.sigstore.dev/attestation/vuln/v1';

/** `--scan secrets,vulns` (repeatable, comma-separated); unknown kinds fail with the closest name. */
export function parseScanFlags(values: readonly string[]): ScanRequest {
  const kinds = new Set<ScanKind>();
  for (const value of values) {
    for (const raw of value.split(',')) {
      const kind = raw.trim();
      if (kind === '') continue;
      if (!(SCAN_KINDS as readonly string[]).includes(kind)) {
        const suggestion = closest(kind, SCAN_KINDS);
        throw new StagecraftError('USAGE', `--scan: unknown scan "${kind}"`, { hint: suggestion !== undefined ? `did you mean "${suggestion}"? (--scan ${SCAN_KINDS.join(',')})` : `the scans are ${SCAN_KINDS.join(' and ')}: --scan secrets,vulns` });
      }
      kinds.add(kind as ScanKind);
    }
  }
  return { secrets: kinds.has('secrets'), vulns: kinds.has('vulns') };
}

/** Where the vulnerability data comes from (scan/vulns `VulnDataOptions`). */
export interface VulnData {
  readonly stateRoot: string;
  readonly debianMirror?: string | undefined;
  readonly osvDir?: string | undefined;
  readonly offline?: boolean | undefined;
}

/** The Dockerfile instruction that made a layer (scan/'s `InstructionSource`), undefined when unknown. */
export type LayerSource = InstructionSource | undefined;

/** The scanners of scan/ (their signatures in COMMON: scanImageSecrets, scanVulnerabilities, vulnPredicate). */
export interface Scanners {
  readonly secrets: (input: {
    content: Content;
    manifest: Digest;
    sources?: readonly LayerSource[];
    provenance?: unknown;
    logs?: readonly { readonly name: string; readonly text: string }[];
    maxFileBytes?: number;
    warn: (m: string) => void;
    signal: AbortSignal;
  }) => Promise<SecretReport>;
  readonly vulns: (input: { packages: readonly SbomPackage[]; distro: Distro | undefined; data: VulnData; warn: (m: string) => void; signal: AbortSignal }) => Promise<VulnReport>;
  readonly vulnPredicate: (report: VulnReport, subject: { readonly name: string; readonly digest: Digest }) => Record<string, unknown>;
}

export interface ScanStepOptions {
  readonly request: ScanRequest;
  readonly scanners: Scanners;
  readonly content: Content;
  /** The image manifest. */
  readonly manifest: Digest;
  readonly name: string;
  /** The Dockerfile line that made each layer (by manifest layer index). */
  readonly sources: readonly LayerSource[];
  /** The provenance predicate (its build args are scanned). */
  readonly provenance?: unknown;
  /** The build's step output. */
  readonly logs: readonly { readonly name: string; readonly text: string }[];
  /** The final filesystem's packages (the build's SBOM catalog, else one catalog of the rootfs). */
  readonly packages: () => Promise<{ readonly packages: readonly SbomPackage[]; readonly distro: Distro | undefined }>;
  readonly vulnData: VulnData;
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
}

export interface ScanStepResult {
  readonly secrets?: SecretReport | undefined;
  readonly vulns?: VulnReport | undefined;
  /** The vuln attestation (with a vuln scan). */
  readonly attestations: readonly Attestation[];
}

export async function scanImage(options: ScanStepOptions): Promise<ScanStepResult> {
  const { request, scanners, signal } = options;
  let secrets: SecretReport | undefined;
  let vulns: VulnReport | undefined;
  const attestations: Attestation[] = [];
  if (request.secrets) {
    secrets = await scanners.secrets({ content: options.content, manifest: options.manifest, sources: options.sources, provenance: options.provenance, logs: options.logs, warn: options.warn, signal });
  }
  if (request.vulns) {
    const { packages, distro } = await options.packages();
    vulns = await scanners.vulns({ packages, distro, data: options.vulnData, warn: options.warn, signal });
    attestations.push({ kind: 'vuln', path: 'vulns.json', predicateType: VULN_PREDICATE_TYPE, predicate: scanners.vulnPredicate(vulns, { name: options.name, digest: options.manifest }), inlineOnly: false });
  }
  return { secrets, vulns, attestations };
}

/** The scan results as the build prints them: counts, where each secret is (never its value), the data's source and age. */
export function scanSummary(result: Pick<ScanStepResult, 'secrets' | 'vulns'>, now = Date.now()): string[] {
  const lines: string[] = [];
  if (result.secrets !== undefined) {
    const s = result.secrets;
    lines.push(`secrets: ${s.findings.length} found (${s.scannedBytes} bytes of text scanned, ${s.skippedFiles} files skipped)`);
    for (const f of s.findings) {
      const where = f.site === 'layer' ? `layer ${f.layer?.index ?? '?'} ${f.path}` : `${f.site} ${f.path}`;
      const source = f.source === undefined ? '' : ` (${f.source.file}:${f.source.line}${f.source.instruction === undefined ? '' : ` ${f.source.instruction}`})`;
      lines.push(`  ${where}${f.line === undefined ? '' : `:${f.line}`}${f.deleted === true ? ' [deleted by a later layer]' : ''}: ${f.rule}${source} ${f.fingerprint}`);
    }
  }
  if (result.vulns !== undefined) {
    const v = result.vulns;
    const sources = v.sources.map((s) => `${s.name}${s.updated === undefined ? '' : `, updated ${s.updated} (${age(s.updated, now)})`}`).join('; ');
    if (!v.hasData) lines.push(`vulnerabilities: no vulnerability data (${sources === '' ? 'no data source' : sources})`);
    else lines.push(`vulnerabilities: ${v.findings.length} (${SEVERITIES.map((s) => `${v.counts[s]} ${s}`).join(', ')}) from ${sources}`);
  }
  return lines;
}

function age(iso: string, now: number): string {
  const ms = now - Date.parse(iso);
  if (!Number.isFinite(ms)) return 'age unknown';
  const days = Math.floor(ms / 86_400_000);
  return days <= 0 ? 'less than a day old' : `${days} day${days === 1 ? '' : 's'} old`;
}

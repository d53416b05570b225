/**
 * The findings of the image scans (DESIGN.md pipeline: assemble → attest → scan → policy gate → sign →
 * export). Secret and vulnerability scanners fill these; the policy gate, the history and the CLI
 * read them. A value found by the secret scan is never stored here: only its fingerprint.
 */
import type { Digest } from '../core/index.js';

/** Where a secret was found. */
export type SecretSite = 'layer' | 'config' | 'provenance' | 'log';

export interface SecretFinding {
  /** The rule that matched (`@secretlint/secretlint-rule-npm`, `stagecraft/private-key`, …). */
  readonly rule: string;
  /** What the rule says, without the value. */
  readonly message: string;
  readonly site: SecretSite;
  /** The layer holding the file (site `layer`): its index in the manifest (0 = base) and blob digest. */
  readonly layer?: { readonly index: number; readonly digest: Digest } | undefined;
  /**
   * The file in the layer (site `layer`), the config field (`Env[2]`, `Labels.token`,
   * `history[3].created_by`), the provenance field, or the step whose log printed it (site `log`).
   */
  readonly path: string;
  /** The file is removed by a later layer (a whiteout): still in the image's blobs. */
  readonly deleted?: boolean | undefined;
  /** 1-based line in the file or log. */
  readonly line?: number | undefined;
  /** The Dockerfile instruction that made the layer, when known. */
  readonly source?: { readonly file: string; readonly line: number; readonly instruction?: string | undefined } | undefined;
  /** `sha256:` + the first 16 hex digits of the sha256 of the value: names the value, never shows it. */
  readonly fingerprint: string;
}

export interface SecretReport {
  readonly findings: readonly SecretFinding[];
  /** Bytes of text read. */
  readonly scannedBytes: number;
  /** Files skipped (binary by magic or NUL bytes, or over the size cap). */
  readonly skippedFiles: number;
}

export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** A vulnerability data source the scan used, named honestly (what, where, how old). */
export interface VulnSource {
  /** `debian-mirror` (security/point-release indexes + changelogs) or `osv-dir` (an imported OSV directory). */
  readonly kind: 'debian-mirror' | 'osv-dir';
  /** Human name: `Debian bookworm-security via http://deb.debian.org/debian-security`, `OSV directory /data/osv`. */
  readonly name: string;
  /** When the data was last updated (ISO 8601), when known. */
  readonly updated?: string | undefined;
  /** When stagecraft downloaded it (ISO 8601): older than `updated` means a cached copy. */
  readonly retrieved?: string | undefined;
  /** The ecosystems it has data for (`Debian`, `npm`, …). */
  readonly ecosystems?: readonly string[] | undefined;
  /** How many of the image's packages were checked against it. */
  readonly packagesChecked?: number | undefined;
}

export interface VulnFinding {
  /** `CVE-2024-1234`, `GHSA-…`, `DSA-…`. */
  readonly id: string;
  readonly aliases: readonly string[];
  readonly package: { readonly name: string; readonly version: string; readonly ecosystem: string; readonly purl?: string | undefined };
  readonly severity: Severity;
  /** The version that fixes it, when the data names one. */
  readonly fixedVersion?: string | undefined;
  readonly summary?: string | undefined;
  /** Which source (VulnSource.name) reported it. */
  readonly source: string;
}

export interface VulnReport {
  readonly sources: readonly VulnSource[];
  /** False when no source had data for any of the image's packages: report "no vulnerability data", never "0 CVEs". */
  readonly hasData: boolean;
  readonly findings: readonly VulnFinding[];
  readonly counts: Readonly<Record<Severity, number>>;
  /** What the scan could not cover, said plainly (a distro no source serves, GIT ranges ignored, …). */
  readonly notes?: readonly string[] | undefined;
  /** When the scan started and finished (ISO 8601). */
  readonly startedAt?: string | undefined;
  readonly finishedAt?: string | undefined;
}

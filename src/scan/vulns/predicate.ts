/**
 * The cosign vulnerability attestation predicate (sigstore/cosign specs/COSIGN_VULN_ATTESTATION_SPEC.md;
 * the field names of cosign's `CosignVulnPredicate`: `invocation`, `scanner` {uri, version, db, result},
 * `metadata` {scanStartedOn, scanFinishedOn}). `scanner.result` is the stagecraft report itself, with
 * the subject and — when no source had data — the words "no vulnerability data".
 */
import type { VulnReport } from '../types.js';
import { vulnSummary } from './render.js';

export const VULN_PREDICATE_TYPE = 'https://cosign.sigstore.dev/attestation/vuln/v1';

export interface VulnPredicateSubject {
  /** The image's name (`registry/repo:tag`). */
  readonly name: string;
  /** Its manifest digest. */
  readonly digest: string;
  /** stagecraft's version (the scanner's version). */
  readonly scannerVersion?: string | undefined;
}

export interface VulnPredicate {
  readonly invocation: { readonly parameters: readonly string[]; readonly uri: string; readonly event_id: string; readonly 'builder.id': string };
  readonly scanner: {
    readonly uri: string;
    readonly version: string;
    readonly db: { readonly uri: string; readonly version: string };
    readonly result: Record<string, unknown>;
  };
  readonly metadata: { readonly scanStartedOn: string; readonly scanFinishedOn: string };
}

export function vulnPredicate(report: VulnReport, subject: VulnPredicateSubject): VulnPredicate {
  const version = subject.scannerVersion ?? '';
  const updated = report.sources.map((s) => s.updated).filter((u): u is string => u !== undefined).sort();
  const finished = report.finishedAt ?? report.startedAt ?? new Date(0).toISOString();
  return {
    invocation: { parameters: [], uri: '', event_id: '', 'builder.id': '' },
    scanner: {
      uri: version === '' ? 'pkg:generic/stagecraft' : `pkg:generic/stagecraft@${version}`,
      version,
      db: { uri: report.sources.map((s) => s.name).join(', '), version: updated[updated.length - 1] ?? '' },
      result: {
        artifact: { name: subject.name, digest: subject.digest },
        summary: vulnSummary(report),
        hasData: report.hasData,
        counts: report.hasData ? report.counts : null,
        sources: report.sources,
        findings: report.findings,
        notes: report.notes ?? [],
      },
    },
    metadata: { scanStartedOn: report.startedAt ?? finished, scanFinishedOn: finished },
  };
}

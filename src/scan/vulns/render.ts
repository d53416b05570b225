/**
 * The vulnerability report as text (the CLI table), as a one-line summary, and as a CycloneDX 1.6
 * `vulnerabilities` section added to the image's BOM. With no data every form says "no vulnerability
 * data"; none of them shows a count of zero then.
 */
import { SEVERITIES, type VulnFinding, type VulnReport } from '../types.js';

export const NO_DATA = 'no vulnerability data';

/** "3 vulnerabilities (1 HIGH, 2 UNKNOWN)", "0 known vulnerabilities", or "no vulnerability data …". */
export function vulnSummary(report: VulnReport): string {
  if (!report.hasData) return `${NO_DATA} for this image's packages`;
  const total = report.findings.length;
  if (total === 0) return `0 known vulnerabilities in ${report.sources.filter((s) => (s.packagesChecked ?? 1) > 0).map((s) => s.name).join(', ')}`;
  const parts = SEVERITIES.filter((s) => report.counts[s] > 0).map((s) => `${report.counts[s]} ${s}`);
  return `${total} ${total === 1 ? 'vulnerability' : 'vulnerabilities'} (${parts.join(', ')})`;
}

function columns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('   ').trimEnd()).join('\n');
}

/** The CLI's table: the data sources and their age first, then one row per finding, then the summary. */
export function vulnTable(report: VulnReport): string {
  const lines: string[] = [];
  if (report.sources.length === 0) lines.push('data sources: none');
  for (const source of report.sources) {
    const age = [source.updated === undefined ? undefined : `updated ${source.updated}`, source.retrieved === undefined ? undefined : `retrieved ${source.retrieved}`].filter((x) => x !== undefined).join(', ');
    lines.push(`data source: ${source.name}${age === '' ? '' : ` (${age})`}`);
  }
  for (const note of report.notes ?? []) lines.push(`note: ${note}`);
  lines.push('');
  if (report.hasData && report.findings.length > 0) {
    lines.push(columns([['PACKAGE', 'INSTALLED', 'FIXED-IN', 'VULNERABILITY', 'SEVERITY'], ...report.findings.map((f) => [f.package.name, f.package.version, f.fixedVersion ?? '(none)', f.id, f.severity])]));
    lines.push('');
  }
  lines.push(vulnSummary(report));
  return `${lines.join('\n')}\n`;
}

const CDX_SEVERITY = { CRITICAL: 'critical', HIGH: 'high', MEDIUM: 'medium', LOW: 'low', UNKNOWN: 'unknown' } as const;

interface BomComponent {
  readonly 'bom-ref'?: unknown;
  readonly purl?: unknown;
  readonly name?: unknown;
  readonly version?: unknown;
}

/**
 * The BOM with a `vulnerabilities` section: one entry per vulnerability id, affecting the components
 * (matched by purl, else name and version). With no data the section is left out and the BOM's
 * metadata says "no vulnerability data" (an empty section would read as "no vulnerabilities").
 */
export function withVulnerabilities(bom: Record<string, unknown>, report: VulnReport): Record<string, unknown> {
  const metadata = (bom.metadata ?? {}) as Record<string, unknown>;
  const properties = Array.isArray(metadata.properties) ? [...(metadata.properties as unknown[])] : [];
  properties.push({ name: 'stagecraft:vulnerabilities:summary', value: vulnSummary(report) });
  for (const [i, source] of report.sources.entries()) properties.push({ name: `stagecraft:vulnerabilities:source:${i}`, value: `${source.name}${source.updated === undefined ? '' : ` (updated ${source.updated})`}` });
  const out: Record<string, unknown> = { ...bom, metadata: { ...metadata, properties } };
  if (!report.hasData) return out;
  const components = (Array.isArray(bom.components) ? bom.components : []) as BomComponent[];
  const refOf = (finding: VulnFinding): string | undefined => {
    const match = components.find((c) => (finding.package.purl !== undefined && c.purl === finding.package.purl) || (c.name === finding.package.name && c.version === finding.package.version));
    return typeof match?.['bom-ref'] === 'string' ? match['bom-ref'] : undefined;
  };
  const byId = new Map<string, VulnFinding[]>();
  for (const finding of report.findings) byId.set(finding.id, [...(byId.get(finding.id) ?? []), finding]);
  out.vulnerabilities = [...byId].sort(([a], [b]) => a.localeCompare(b)).map(([id, findings]) => {
    const first = findings[0] as VulnFinding;
    const refs = [...new Set(findings.map(refOf).filter((r): r is string => r !== undefined))].sort();
    const fixed = [...new Set(findings.map((f) => f.fixedVersion).filter((v): v is string => v !== undefined))];
    return {
      'bom-ref': `vulnerability:${id}`,
      id,
      source: { name: first.source },
      ...(first.aliases.length === 0 ? {} : { references: first.aliases.map((alias) => ({ id: alias, source: { name: first.source } })) }),
      ratings: [{ source: { name: first.source }, severity: CDX_SEVERITY[first.severity] }],
      ...(first.summary === undefined ? {} : { description: first.summary }),
      ...(fixed.length === 0 ? {} : { recommendation: `upgrade to ${fixed.join(' / ')}` }),
      affects: refs.map((ref) => ({ ref, versions: findings.filter((f) => refOf(f) === ref).map((f) => ({ version: f.package.version, status: 'affected' })) })),
    };
  });
  return out;
}

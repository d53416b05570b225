/**
 * The table syft prints by default (`NAME  VERSION  TYPE`): one row per package and version, sorted,
 * duplicates (the same package found twice) merged; columns padded to the widest cell.
 */
import type { SbomResult } from './catalog.js';
import { compare } from './spdx.js';

export function sbomTable(result: SbomResult): string {
  if (result.packages.length === 0) return 'No packages discovered\n';
  const rows = new Map<string, readonly [string, string, string]>();
  for (const pkg of result.packages) {
    const row = [pkg.name, pkg.version, pkg.type] as const;
    rows.set(row.join('\u0000'), row);
  }
  const sorted = [...rows.values()].sort((a, b) => compare(a.join('\u0000'), b.join('\u0000')));
  const all = [['NAME', 'VERSION', 'TYPE'] as const, ...sorted];
  const widths = [0, 1].map((i) => Math.max(...all.map((row) => row[i]?.length ?? 0)));
  return all.map((row) => `${row[0].padEnd(widths[0] ?? 0)}  ${row[1].padEnd(widths[1] ?? 0)}  ${row[2]}`.trimEnd()).join('\n') + '\n';
}

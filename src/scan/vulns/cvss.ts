/**
 * Severity from a CVSS vector: the CVSS v3.0/v3.1 base score (FIRST's specification, section 7) and
 * the v2 base score, banded as NVD does (v3: 0.1–3.9 LOW, 4.0–6.9 MEDIUM, 7.0–8.9 HIGH, 9.0–10
 * CRITICAL; v2: <4 LOW, <7 MEDIUM, else HIGH). CVSS v4 scores need FIRST's macro-vector tables and
 * are not computed: such a vector gives no severity (the caller falls back to UNKNOWN).
 */
import type { Severity } from '../types.js';

function metrics(vector: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of vector.split('/')) {
    const [key, value] = part.split(':');
    if (key !== undefined && value !== undefined) out.set(key, value);
  }
  return out;
}

/** CVSS v3 "round up to one decimal" (spec Appendix A, the float-safe version). */
function roundUp(value: number): number {
  const int = Math.round(value * 100000);
  return int % 10000 === 0 ? int / 100000 : (Math.floor(int / 10000) + 1) / 10;
}

export function cvss3Score(vector: string): number | undefined {
  if (!/^CVSS:3\.[01]\//u.test(vector)) return undefined;
  const m = metrics(vector);
  const av = { N: 0.85, A: 0.62, L: 0.55, P: 0.2 }[m.get('AV') ?? ''];
  const ac = { L: 0.77, H: 0.44 }[m.get('AC') ?? ''];
  const ui = { N: 0.85, R: 0.62 }[m.get('UI') ?? ''];
  const scope = m.get('S');
  const cia = (k: string): number | undefined => ({ H: 0.56, L: 0.22, N: 0 })[m.get(k) ?? ''];
  const c = cia('C');
  const i = cia('I');
  const a = cia('A');
  const prText = m.get('PR');
  const pr = scope === 'C' ? { N: 0.85, L: 0.68, H: 0.5 }[prText ?? ''] : { N: 0.85, L: 0.62, H: 0.27 }[prText ?? ''];
  if (av === undefined || ac === undefined || ui === undefined || pr === undefined || c === undefined || i === undefined || a === undefined || (scope !== 'U' && scope !== 'C')) return undefined;
  const iss = 1 - (1 - c) * (1 - i) * (1 - a);
  const impact = scope === 'U' ? 6.42 * iss : 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15;
  const exploitability = 8.22 * av * ac * pr * ui;
  if (impact <= 0) return 0;
  return scope === 'U' ? roundUp(Math.min(impact + exploitability, 10)) : roundUp(Math.min(1.08 * (impact + exploitability), 10));
}

export function cvss2Score(vector: string): number | undefined {
  const m = metrics(vector.replace(/^\(|\)$/gu, ''));
  const av = { L: 0.395, A: 0.646, N: 1.0 }[m.get('AV') ?? ''];
  const ac = { H: 0.35, M: 0.61, L: 0.71 }[m.get('AC') ?? ''];
  const au = { M: 0.45, S: 0.56, N: 0.704 }[m.get('Au') ?? ''];
  const cia = (k: string): number | undefined => ({ N: 0, P: 0.275, C: 0.66 })[m.get(k) ?? ''];
  const c = cia('C');
  const i = cia('I');
  const a = cia('A');
  if (av === undefined || ac === undefined || au === undefined || c === undefined || i === undefined || a === undefined) return undefined;
  const impact = 10.41 * (1 - (1 - c) * (1 - i) * (1 - a));
  const exploitability = 20 * av * ac * au;
  const f = impact === 0 ? 0 : 1.176;
  return Math.round((0.6 * impact + 0.4 * exploitability - 1.5) * f * 10) / 10;
}

export function severityOfScore(score: number, version: 2 | 3): Severity {
  if (version === 2) return score < 4 ? 'LOW' : score < 7 ? 'MEDIUM' : 'HIGH';
  if (score >= 9) return 'CRITICAL';
  if (score >= 7) return 'HIGH';
  if (score >= 4) return 'MEDIUM';
  return 'LOW';
}

/** A severity word as databases write it (GHSA's MODERATE is MEDIUM). */
export function severityOfWord(word: string): Severity | undefined {
  switch (word.trim().toUpperCase()) {
    case 'CRITICAL':
      return 'CRITICAL';
    case 'HIGH':
    case 'IMPORTANT':
      return 'HIGH';
    case 'MEDIUM':
    case 'MODERATE':
      return 'MEDIUM';
    case 'LOW':
    case 'NEGLIGIBLE':
      return 'LOW';
    default:
      return undefined;
  }
}

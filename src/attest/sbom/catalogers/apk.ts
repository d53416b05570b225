/**
 * Alpine's package database (syft: apk-db-cataloger): `/lib/apk/db/installed`, one paragraph per
 * package of `X:value` lines (https://wiki.alpinelinux.org/wiki/Apk_spec#Installed_Database_V2).
 */
import { purl } from '../purl.js';
import type { Cataloger, SbomPackage } from '../types.js';
import { readText } from './read.js';

const INSTALLED = '/lib/apk/db/installed';

/** Paragraphs of `X:value` lines; keys repeat for files (F, R, Z, …) and only the first value is kept. */
export function parseApkInstalled(text: string): { readonly records: readonly ReadonlyMap<string, string>[]; readonly badLines: number } {
  const records: Map<string, string>[] = [];
  let current = new Map<string, string>();
  let badLines = 0;
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '') {
      if (current.size > 0) records.push(current);
      current = new Map();
      continue;
    }
    if (line.length < 2 || line[1] !== ':' || !/^[A-Za-z]$/.test(line[0] ?? '')) {
      badLines++;
      continue;
    }
    const key = line[0] ?? '';
    if (!current.has(key)) current.set(key, line.slice(2));
  }
  if (current.size > 0) records.push(current);
  return { records, badLines };
}

/**
 * `L:` is an SPDX expression (`MIT AND BSD-2-Clause`) or, in older packages, a space-separated
 * list (`MIT BSD`): an expression is kept whole, a list is split.
 */
export function apkLicenses(value: string): string[] {
  const text = value.trim();
  if (text === '') return [];
  if (/[()]|\s(AND|OR|WITH)\s/i.test(text)) return [text];
  return [...new Set(text.split(/\s+/))];
}

export const apkCataloger: Cataloger = {
  name: 'apk-db',
  async catalog(context) {
    const text = await readText(context, INSTALLED, 'apk installed database');
    if (text === undefined) return [];
    const { records, badLines } = parseApkInstalled(text);
    const namespace = context.distro?.id ?? 'alpine';
    const distro = context.distro === undefined ? undefined : [context.distro.id, context.distro.versionId].filter(Boolean).join('-');
    const out: SbomPackage[] = [];
    let incomplete = 0;
    for (const record of records) {
      const name = record.get('P') ?? '';
      const version = record.get('V') ?? '';
      if (!/^[A-Za-z0-9][A-Za-z0-9+._-]*$/.test(name) || version === '') {
        incomplete++;
        continue;
      }
      const arch = record.get('A') || undefined;
      const origin = record.get('o') || undefined;
      const qualifiers: Record<string, string> = {};
      if (arch !== undefined) qualifiers['arch'] = arch;
      if (distro !== undefined) qualifiers['distro'] = distro;
      // syft names the origin only when it differs from the package.
      if (origin !== undefined && origin !== name) qualifiers['upstream'] = origin;
      out.push({
        name,
        version,
        type: 'apk',
        purl: purl('apk', namespace, name, version, qualifiers),
        licenses: apkLicenses(record.get('L') ?? ''),
        foundBy: 'apk-db',
        locations: [{ path: INSTALLED }],
        arch,
        source: origin === undefined ? undefined : { name: origin, version },
        supplier: record.get('m') || undefined,
        description: record.get('T') || undefined,
        homepage: record.get('U') || undefined,
      });
    }
    if (badLines > 0 || incomplete > 0) {
      context.warn(`${INSTALLED}: corrupt apk database (${badLines} malformed line(s), ${incomplete} entr${incomplete === 1 ? 'y' : 'ies'} without a valid P/V); read ${out.length} package(s)`);
    }
    return out;
  },
};

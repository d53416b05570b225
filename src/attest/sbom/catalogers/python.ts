/**
 * `python-installed`: Python distributions installed in the image, from `*.dist-info/METADATA`
 * (wheels, pip) and `*.egg-info/PKG-INFO` or a `*.egg-info` file (setuptools, Debian's python3-*
 * packages). Only the metadata headers are read (core metadata, an RFC 822 header block); the
 * `RECORD` beside a METADATA, when present, is listed as a second location but not parsed.
 */
import type { CatalogContext, Cataloger, FsEntry, SbomPackage } from '../types.js';
import { purl } from '../purl.js';
import { READ_CONCURRENCY, baseName, dirName, errorText, mapBounded, readRangeSafe } from './scan.js';

/** The headers come first; a METADATA is read up to this far (its body is the long description). */
export const MAX_METADATA_HEADER_BYTES = 1024 * 1024;

/** Core metadata headers: `Key: value`, continuation lines indented, a blank line ends them. */
export function parseMetadataHeaders(text: string): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  let last: { key: string; values: string[] } | undefined;
  for (const raw of text.split(/\r?\n/)) {
    if (raw === '') break;
    if ((raw.startsWith(' ') || raw.startsWith('\t')) && last !== undefined) {
      const values = last.values;
      values[values.length - 1] = `${values[values.length - 1] ?? ''}\n${raw.trim()}`;
      continue;
    }
    const colon = raw.indexOf(':');
    if (colon <= 0) {
      last = undefined;
      continue;
    }
    const key = raw.slice(0, colon).trim().toLowerCase();
    const value = raw.slice(colon + 1).trim();
    const values = headers.get(key) ?? [];
    values.push(value);
    headers.set(key, values);
    last = { key, values };
  }
  return headers;
}

/** PEP 503 normalisation, which the purl spec asks for the pypi type. */
export function normalizePythonName(name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-');
}

function first(headers: Map<string, string[]>, key: string): string | undefined {
  const value = headers.get(key)?.[0]?.trim();
  return value === undefined || value === '' || value.toUpperCase() === 'UNKNOWN' ? undefined : value;
}

/** License-Expression (PEP 639), else a short License field, else the `License ::` classifiers. */
export function pythonLicenses(headers: Map<string, string[]>): string[] {
  const expression = first(headers, 'license-expression');
  if (expression !== undefined) return [expression];
  const license = first(headers, 'license');
  // Some packages put the whole licence text in License: a one-line value is a name, a long one is not.
  if (license !== undefined && !license.includes('\n') && license.length <= 200) return [license];
  const out: string[] = [];
  for (const classifier of headers.get('classifier') ?? []) {
    const parts = classifier.split('::').map((part) => part.trim());
    if (parts[0] !== 'License' || parts.length < 2) continue;
    const name = parts[parts.length - 1] as string;
    if (name !== 'OSI Approved' && !out.includes(name)) out.push(name);
  }
  if (out.length === 0 && license !== undefined) out.push(license.split('\n')[0] as string);
  return out;
}

function homepage(headers: Map<string, string[]>): string | undefined {
  const page = first(headers, 'home-page');
  if (page !== undefined) return page;
  for (const url of headers.get('project-url') ?? []) {
    const [label, link] = url.split(',', 2).map((part) => part.trim());
    if (link !== undefined && /^home\s*-?page$/i.test(label ?? '')) return link;
  }
  return undefined;
}

function author(headers: Map<string, string[]>): string | undefined {
  const name = first(headers, 'author');
  const email = first(headers, 'author-email');
  if (name !== undefined && email !== undefined) return `${name} <${email}>`;
  return name ?? email;
}

async function readDistribution(context: CatalogContext, metadataPath: string, files: ReadonlySet<string>): Promise<SbomPackage | undefined> {
  const data = await readRangeSafe(context, metadataPath, 0, MAX_METADATA_HEADER_BYTES, 'python metadata');
  if (data === undefined) return undefined;
  const headers = parseMetadataHeaders(data.toString('utf8'));
  const name = first(headers, 'name');
  const version = first(headers, 'version');
  if (name === undefined || version === undefined) {
    context.warn(`python metadata ${metadataPath}: no Name or Version header; skipped`);
    return undefined;
  }
  const locations = [{ path: metadataPath }];
  const record = `${dirName(metadataPath)}/RECORD`;
  if (metadataPath.endsWith('/METADATA') && files.has(record)) locations.push({ path: record });
  return {
    name,
    version,
    type: 'pypi',
    purl: purl('pypi', undefined, normalizePythonName(name), version),
    licenses: pythonLicenses(headers),
    foundBy: 'python-installed',
    locations,
    homepage: homepage(headers),
    supplier: author(headers),
    description: first(headers, 'summary'),
  };
}

function isMetadata(entry: FsEntry): boolean {
  if (entry.type !== 'file') return false;
  const name = baseName(entry.path);
  const parent = baseName(dirName(entry.path)).toLowerCase();
  if (name === 'METADATA') return parent.endsWith('.dist-info');
  if (name === 'PKG-INFO') return parent.endsWith('.egg-info');
  // setuptools' single-file form: `foo-1.0.egg-info` is the PKG-INFO itself.
  return name.toLowerCase().endsWith('.egg-info');
}

export const pythonInstalledCataloger: Cataloger = {
  name: 'python-installed',
  async catalog(context) {
    const entries = await context.fs.entries();
    const files = new Set(entries.filter((entry) => entry.type === 'file').map((entry) => entry.path));
    const candidates = entries.filter(isMetadata);
    const found = await mapBounded(candidates, READ_CONCURRENCY, context.signal, async (entry) => {
      try {
        return await readDistribution(context, entry.path, files);
      } catch (error) {
        if (context.signal.aborted) throw error;
        context.warn(`python metadata ${entry.path}: ${errorText(error)}; skipped`);
        return undefined;
      }
    });
    return found.filter((item): item is SbomPackage => item !== undefined);
  },
};

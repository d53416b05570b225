/**
 * SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/) from a catalog result, in the shape syft
 * writes for BuildKit: a root package for the scanned subject that the document DESCRIBES and that
 * CONTAINS every package; each package with its purl (and CPEs) as external references, where it was
 * found in `sourceInfo`, and — when the digest of that file is known — a file element the package is
 * evident by. Same input, same bytes: identifiers and the namespace derive from the content, never
 * from a clock or a random source (the creation time is the caller's, e.g. SOURCE_DATE_EPOCH).
 */
import { createHash } from 'node:crypto';
import { canonicalJson, type Digest } from '../../core/index.js';
import type { SbomResult } from './catalog.js';
import { licenseRef, spdxExpression } from './license.js';
import type { Ecosystem, SbomPackage } from './types.js';

export interface SbomDocumentInfo {
  /** What was scanned: an image name (`docker.io/library/busybox:latest`), a stage or context name. */
  readonly name: string;
  /** The scanned image's manifest digest, when there is one. */
  readonly subjectDigest?: Digest | undefined;
  /** The document's creation time (the build's SOURCE_DATE_EPOCH when set). */
  readonly created: Date;
  /** stagecraft's version, named as the creating tool. */
  readonly toolVersion: string;
}

/** Where namespaces live: a URI that is unique per document and never dereferenced (SPDX 2.3 §6.5). */
const NAMESPACE_BASE = 'https://stagecraft.invalid/spdx';
const NOASSERTION = 'NOASSERTION';
const DOCUMENT_ID = 'SPDXRef-DOCUMENT';
const ROOT_ID = 'SPDXRef-DocumentRoot';

/** How syft names each source in `sourceInfo` ("acquired package info from <what>: <path>"). */
const SOURCE_KIND: Readonly<Record<Ecosystem, string>> = {
  deb: 'DPKG DB',
  apk: 'APK DB',
  rpm: 'RPM DB',
  npm: 'installed node module manifest',
  pypi: 'installed python package manifest',
  golang: 'go module information',
  maven: 'Java archive',
  binary: 'the following paths',
};

/** The characters an SPDX identifier may hold after `SPDXRef-` (SPDX 2.3 §3.2). */
function idPart(text: string): string {
  const part = text.replace(/[^A-Za-z0-9.-]+/gu, '-').replace(/^-+|-+$/gu, '');
  return part === '' ? 'x' : part.slice(0, 64);
}

function shortHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** A UUID-shaped name (RFC 9562 version 8, deterministic) from a content hash. */
function uuidFrom(hex: string): string {
  const h = hex.slice(0, 32).split('');
  h[12] = '8';
  h[16] = ((parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

/** The digest of a result and its subject: the namespace's seed. */
export function sbomContentHash(result: SbomResult, info: Pick<SbomDocumentInfo, 'name' | 'subjectDigest'>): string {
  return createHash('sha256')
    .update(canonicalJson({ name: info.name, subject: info.subjectDigest, distro: result.distro, packages: sortedPackages(result.packages) }))
    .digest('hex');
}

/** Code-unit order (never the locale's). */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Packages in a stable order: type, name, version, purl, first location. */
export function sortedPackages(packages: readonly SbomPackage[]): SbomPackage[] {
  const key = (p: SbomPackage): string => [p.type, p.name, p.version, p.purl, p.locations[0]?.path ?? ''].join('\u0000');
  return [...packages].sort((a, b) => compare(key(a), key(b)));
}

interface LicenseField {
  readonly expression: string;
  readonly extracted: readonly { readonly licenseId: string; readonly extractedText: string }[];
}

/** The declared licenses as one expression: valid expressions kept, any other text as a LicenseRef. */
function licenseField(licenses: readonly string[]): LicenseField | undefined {
  const parts: string[] = [];
  const extracted: { licenseId: string; extractedText: string }[] = [];
  for (const text of licenses) {
    if (text.trim() === '') continue;
    const expression = spdxExpression(text);
    if (expression !== undefined) {
      parts.push(expression);
      continue;
    }
    const ref = licenseRef(text);
    parts.push(ref);
    extracted.push({ licenseId: ref, extractedText: text });
  }
  const unique = [...new Set(parts)];
  if (unique.length === 0) return undefined;
  const expression = unique.length === 1 ? (unique[0] ?? '') : unique.map((p) => (/ (?:AND|OR) /u.test(p) ? `(${p})` : p)).join(' AND ');
  return { expression, extracted };
}

/** SPDX's agent syntax: `Organization: …` unless the text names its kind already. */
function agent(text: string | undefined): string {
  if (text === undefined || text.trim() === '') return NOASSERTION;
  const value = text.trim();
  return /^(?:Person|Organization|Tool): /u.test(value) ? value : `Organization: ${value}`;
}

function rootPurl(info: SbomDocumentInfo): string | undefined {
  if (info.subjectDigest === undefined) return undefined;
  const withoutDigest = info.name.split('@')[0] ?? info.name;
  const lastSlash = withoutDigest.lastIndexOf('/');
  const repository = withoutDigest.replace(/:[^:/]*$/u, '');
  const name = repository.slice(lastSlash + 1);
  if (!/^[a-z0-9][a-z0-9._-]*$/u.test(name)) return undefined;
  const qualifiers = repository.includes('/') ? `?repository_url=${encodeURIComponent(repository)}` : '';
  return `pkg:oci/${name}@${encodeURIComponent(info.subjectDigest)}${qualifiers}`;
}

/** The SPDX 2.3 JSON document for `result`. Deterministic: the same input gives the same document. */
export function toSpdx(result: SbomResult, info: SbomDocumentInfo): Record<string, unknown> {
  const hash = sbomContentHash(result, info);
  const packages: Record<string, unknown>[] = [];
  const files = new Map<string, Record<string, unknown>>();
  const relationships: Record<string, unknown>[] = [{ spdxElementId: DOCUMENT_ID, relationshipType: 'DESCRIBES', relatedSpdxElement: ROOT_ID }];
  const extracted = new Map<string, string>();
  const purl = rootPurl(info);
  packages.push({
    name: info.name,
    SPDXID: ROOT_ID,
    ...(info.subjectDigest === undefined ? {} : { versionInfo: info.subjectDigest }),
    supplier: NOASSERTION,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    ...(info.subjectDigest === undefined ? {} : { checksums: [{ algorithm: 'SHA256', checksumValue: info.subjectDigest.slice('sha256:'.length) }] }),
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    ...(purl === undefined ? {} : { externalRefs: [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: purl }] }),
    primaryPackagePurpose: info.subjectDigest === undefined ? 'OTHER' : 'CONTAINER',
  });
  const used = new Set<string>([DOCUMENT_ID, ROOT_ID]);
  for (const pkg of sortedPackages(result.packages)) {
    let id = `SPDXRef-Package-${idPart(pkg.type)}-${idPart(pkg.name)}-${shortHash({ purl: pkg.purl, foundBy: pkg.foundBy, locations: pkg.locations.map((l) => l.path) })}`;
    for (let n = 2; used.has(id); n++) id = `${id.replace(/-dup\d+$/u, '')}-dup${n}`;
    used.add(id);
    const license = licenseField(pkg.licenses);
    for (const e of license?.extracted ?? []) extracted.set(e.licenseId, e.extractedText);
    const externalRefs = [
      ...(pkg.cpes ?? []).map((cpe) => ({ referenceCategory: 'SECURITY', referenceType: cpe.startsWith('cpe:2.3:') ? 'cpe23Type' : 'cpe22Type', referenceLocator: cpe })),
      ...(pkg.purl === '' ? [] : [{ referenceCategory: 'PACKAGE-MANAGER', referenceType: 'purl', referenceLocator: pkg.purl }]),
    ];
    const main = pkg.locations[0];
    packages.push({
      name: pkg.name,
      SPDXID: id,
      ...(pkg.version === '' ? {} : { versionInfo: pkg.version }),
      supplier: agent(pkg.supplier),
      downloadLocation: NOASSERTION,
      filesAnalyzed: false,
      ...(pkg.homepage === undefined || pkg.homepage === '' ? {} : { homepage: pkg.homepage }),
      ...(main === undefined ? {} : { sourceInfo: `acquired package info from ${SOURCE_KIND[pkg.type]}: ${pkg.locations.map((l) => l.path).join(', ')}` }),
      licenseConcluded: NOASSERTION,
      licenseDeclared: license?.expression ?? NOASSERTION,
      copyrightText: NOASSERTION,
      ...(pkg.description === undefined || pkg.description === '' ? {} : { description: pkg.description }),
      ...(pkg.source === undefined ? {} : { comment: `source package: ${pkg.source.name}${pkg.source.version === undefined ? '' : ` ${pkg.source.version}`}` }),
      ...(externalRefs.length === 0 ? {} : { externalRefs }),
      primaryPackagePurpose: pkg.type === 'binary' ? 'APPLICATION' : 'LIBRARY',
    });
    relationships.push({ spdxElementId: ROOT_ID, relationshipType: 'CONTAINS', relatedSpdxElement: id });
    for (const location of pkg.locations) {
      // SPDX requires a checksum on every file: a location whose digest is unknown stays in sourceInfo only.
      if (location.digest === undefined) continue;
      const fileId = `SPDXRef-File-${idPart(location.path.split('/').pop() ?? '')}-${shortHash({ path: location.path, layer: location.layer, digest: location.digest })}`;
      if (!files.has(fileId)) {
        files.set(fileId, {
          fileName: location.path,
          SPDXID: fileId,
          checksums: [{ algorithm: 'SHA256', checksumValue: location.digest.slice('sha256:'.length) }],
          licenseConcluded: NOASSERTION,
          copyrightText: NOASSERTION,
          ...(location.layer === undefined ? {} : { comment: `layerID: ${location.layer}` }),
        });
      }
      relationships.push({ spdxElementId: id, relationshipType: 'OTHER', relatedSpdxElement: fileId, comment: "evident-by: indicates the package's existence is evident by the given file" });
    }
  }
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: DOCUMENT_ID,
    name: info.name,
    documentNamespace: `${NAMESPACE_BASE}/${idPart(info.name)}-${uuidFrom(hash)}`,
    creationInfo: {
      created: info.created.toISOString().replace(/\.\d{3}Z$/u, 'Z'),
      creators: [`Tool: stagecraft-${info.toolVersion}`],
      ...(result.distro === undefined ? {} : { comment: `distro: ${result.distro.prettyName ?? `${result.distro.id} ${result.distro.versionId ?? ''}`.trim()}` }),
    },
    packages,
    ...(files.size === 0 ? {} : { files: [...files.values()].sort((a, b) => compare(String(a.SPDXID), String(b.SPDXID))) }),
    ...(extracted.size === 0 ? {} : { hasExtractedLicensingInfos: [...extracted.entries()].sort(([a], [b]) => compare(a, b)).map(([licenseId, extractedText]) => ({ licenseId, extractedText })) }),
    relationships,
  };
}

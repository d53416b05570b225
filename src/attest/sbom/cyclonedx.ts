/**
 * CycloneDX 1.6 JSON from a catalog result, built with @cyclonedx/cyclonedx-library's models and JSON
 * serializer: the scanned subject as `metadata.component`, the distro as an operating-system
 * component, every package as a component with its purl, CPE, licenses and — as properties in the
 * `stagecraft:` namespace — the cataloger, the files it was found from and their layers. Every
 * bom-ref is set here (purl-based), so the serializer never invents one: same input, same document.
 */
import { createHash } from 'node:crypto';
import { Enums, Models, Serialize, Spec } from '@cyclonedx/cyclonedx-library';
import type { SbomResult } from './catalog.js';
import { spdxExpression, spdxId } from './license.js';
import { sbomContentHash, sortedPackages, type SbomDocumentInfo } from './spdx.js';
import type { SbomPackage } from './types.js';

/** A deterministic `urn:uuid:` (RFC 9562 version 8) from a content hash. */
function serialNumber(hex: string): string {
  const h = hex.slice(0, 32).split('');
  h[12] = '8';
  h[16] = ((parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16);
  const s = h.join('');
  return `urn:uuid:${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20, 32)}`;
}

/**
 * The licenses of a package in CycloneDX's choice: license ids and names (one entry each), or — when
 * a declared value is a compound expression — one expression for all, as the schema allows only one.
 */
function licenses(declared: readonly string[]): Models.LicenseRepository {
  const repo = new Models.LicenseRepository();
  const texts = [...new Set(declared.map((t) => t.trim()).filter((t) => t !== ''))];
  const expressions = texts.map((t) => spdxExpression(t));
  const compound = expressions.some((e) => e !== undefined && spdxId(e) === undefined);
  if (compound && expressions.every((e) => e !== undefined)) {
    const parts = expressions.map((e) => e ?? '');
    repo.add(new Models.LicenseExpression(parts.length === 1 ? parts.join('') : parts.map((e) => (/ (?:AND|OR) /u.test(e) ? `(${e})` : e)).join(' AND ')));
    return repo;
  }
  for (const text of texts) {
    const id = spdxId(text);
    repo.add(id === undefined ? new Models.NamedLicense(text) : new Models.SpdxLicense(id));
  }
  return repo;
}

function properties(pkg: SbomPackage): Models.PropertyRepository {
  const repo = new Models.PropertyRepository();
  repo.add(new Models.Property('stagecraft:package:foundBy', pkg.foundBy));
  repo.add(new Models.Property('stagecraft:package:type', pkg.type));
  if (pkg.arch !== undefined) repo.add(new Models.Property('stagecraft:package:arch', pkg.arch));
  if (pkg.source !== undefined) {
    repo.add(new Models.Property('stagecraft:package:source', pkg.source.name));
    if (pkg.source.version !== undefined) repo.add(new Models.Property('stagecraft:package:sourceVersion', pkg.source.version));
  }
  for (const [i, cpe] of (pkg.cpes ?? []).entries()) {
    if (i > 0) repo.add(new Models.Property(`stagecraft:cpe23:${i}`, cpe));
  }
  for (const [i, location] of pkg.locations.entries()) {
    repo.add(new Models.Property(`stagecraft:location:${i}:path`, location.path));
    if (location.layer !== undefined) repo.add(new Models.Property(`stagecraft:location:${i}:layerID`, location.layer));
    if (location.digest !== undefined) repo.add(new Models.Property(`stagecraft:location:${i}:digest`, location.digest));
  }
  return repo;
}

function packageId(pkg: SbomPackage): string {
  return createHash('sha256').update(JSON.stringify([pkg.purl, pkg.foundBy, pkg.locations.map((l) => l.path)])).digest('hex').slice(0, 16);
}

/** The CycloneDX 1.6 JSON document for `result`. Deterministic: the same input gives the same document. */
export function toCycloneDx(result: SbomResult, info: SbomDocumentInfo): Record<string, unknown> {
  const hash = sbomContentHash(result, info);
  const packages = sortedPackages(result.packages);
  const purlCount = new Map<string, number>();
  for (const pkg of packages) purlCount.set(pkg.purl, (purlCount.get(pkg.purl) ?? 0) + 1);

  const tool = new Models.Component(Enums.ComponentType.Application, 'stagecraft', { version: info.toolVersion, bomRef: `stagecraft@${info.toolVersion}` });
  const subject = new Models.Component(Enums.ComponentType.Container, info.name, {
    bomRef: info.subjectDigest === undefined ? `subject:${info.name}` : `subject:${info.name}@${info.subjectDigest}`,
    ...(info.subjectDigest === undefined ? {} : { version: info.subjectDigest }),
  });
  const bom = new Models.Bom({
    serialNumber: serialNumber(hash),
    metadata: new Models.Metadata({
      timestamp: info.created,
      tools: new Models.Tools({ components: new Models.ComponentRepository([tool]) }),
      component: subject,
    }),
  });
  if (result.distro !== undefined) {
    const distro = result.distro;
    const osProperties = new Models.PropertyRepository();
    if (distro.prettyName !== undefined) osProperties.add(new Models.Property('stagecraft:distro:prettyName', distro.prettyName));
    bom.components.add(new Models.Component(Enums.ComponentType.OperatingSystem, distro.id, {
      bomRef: `os:${distro.id}@${distro.versionId ?? ''}`,
      ...(distro.versionId === undefined ? {} : { version: distro.versionId }),
      properties: osProperties,
    }));
  }
  for (const pkg of packages) {
    const unique = (purlCount.get(pkg.purl) ?? 0) === 1 && pkg.purl !== '';
    const bomRef = unique ? pkg.purl : `${pkg.purl === '' ? `pkg:generic/${encodeURIComponent(pkg.name)}` : pkg.purl}${pkg.purl.includes('?') ? '&' : '?'}package-id=${packageId(pkg)}`;
    bom.components.add(new Models.Component(pkg.type === 'binary' ? Enums.ComponentType.Application : Enums.ComponentType.Library, pkg.name, {
      bomRef,
      ...(pkg.version === '' ? {} : { version: pkg.version }),
      ...(pkg.purl === '' ? {} : { purl: pkg.purl }),
      ...(pkg.cpes?.[0] === undefined ? {} : { cpe: pkg.cpes[0] }),
      ...(pkg.description === undefined || pkg.description === '' ? {} : { description: pkg.description }),
      ...(pkg.supplier === undefined || pkg.supplier === '' ? {} : { supplier: new Models.OrganizationalEntity({ name: pkg.supplier }) }),
      ...(pkg.homepage === undefined || !/^https?:\/\//u.test(pkg.homepage)
        ? {}
        : { externalReferences: new Models.ExternalReferenceRepository([new Models.ExternalReference(pkg.homepage, Enums.ExternalReferenceType.Website)]) }),
      licenses: licenses(pkg.licenses),
      properties: properties(pkg),
    }));
  }
  const serializer = new Serialize.JsonSerializer(new Serialize.JSON.Normalize.Factory(Spec.Spec1dot6));
  return JSON.parse(serializer.serialize(bom, { sortLists: true })) as Record<string, unknown>;
}

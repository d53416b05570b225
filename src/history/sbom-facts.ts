/**
 * SLI M8 (SBOM completeness) from an SPDX 2.3 document: how many packages it lists and how many of
 * them carry a purl and a declared license. The described root (the image itself) is not a package
 * of the image. The document is the build's own, but it is read as untrusted JSON all the same.
 */
import { z } from 'zod';

const SpdxPackage = z.object({
  SPDXID: z.string(),
  licenseDeclared: z.string().optional(),
  licenseConcluded: z.string().optional(),
  externalRefs: z.array(z.object({ referenceType: z.string(), referenceLocator: z.string() }).passthrough()).optional(),
}).passthrough();
const SpdxDocument = z.object({
  packages: z.array(SpdxPackage).default([]),
  relationships: z.array(z.object({ spdxElementId: z.string(), relationshipType: z.string(), relatedSpdxElement: z.string() }).passthrough()).default([]),
  documentDescribes: z.array(z.string()).optional(),
}).passthrough();

/** SPDX's "no information" values (SPDX 2.3 §7.13, §7.15). */
const UNKNOWN_LICENSE = new Set(['NOASSERTION', 'NONE', '']);

export interface SbomCompleteness {
  readonly total: number;
  readonly purl: number;
  readonly license: number;
}

/** Counts of an SPDX document's packages; undefined when the predicate is not one. */
export function sbomCompleteness(predicate: unknown): SbomCompleteness | undefined {
  const parsed = SpdxDocument.safeParse(predicate);
  if (!parsed.success) return undefined;
  const doc = parsed.data;
  const described = new Set([
    ...(doc.documentDescribes ?? []),
    ...doc.relationships.filter((r) => r.relationshipType === 'DESCRIBES').map((r) => r.relatedSpdxElement),
  ]);
  const packages = doc.packages.filter((p) => !described.has(p.SPDXID));
  const hasLicense = (p: z.infer<typeof SpdxPackage>): boolean => !UNKNOWN_LICENSE.has(p.licenseDeclared ?? '') || !UNKNOWN_LICENSE.has(p.licenseConcluded ?? '');
  return {
    total: packages.length,
    purl: packages.filter((p) => (p.externalRefs ?? []).some((r) => r.referenceType === 'purl' && r.referenceLocator !== '')).length,
    license: packages.filter(hasLicense).length,
  };
}

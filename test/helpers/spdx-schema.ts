/**
 * SPDX 2.3 JSON, as zod: written from the SPDX 2.3 specification's JSON schema (spdx/spdx-spec,
 * schemas/spdx-schema-2-3.json) for the parts stagecraft emits — the document, creation info,
 * packages, files, relationships and extracted licensing infos — with the schema's required fields,
 * enums and `additionalProperties: false` (strict objects). Beyond the JSON schema, it checks what the
 * specification's text requires of these fields: SPDX identifiers (§3.2), the version and data license
 * (§6.1, §6.2), an absolute namespace URI without '#' (§6.5), UTC creation times (§6.9), creator agent
 * syntax (§6.8), and that every relationship and LicenseRef points at an element of the document.
 */
import { z } from 'zod';

const SPDX_ID = /^SPDXRef-[A-Za-z0-9.-]+$/u;
const spdxId = z.string().regex(SPDX_ID);
const utc = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/u, 'a UTC time YYYY-MM-DDThh:mm:ssZ');
const agent = z.string().regex(/^(?:NOASSERTION|(?:Person|Organization|Tool): .+)$/u, 'NOASSERTION or Person:/Organization:/Tool: …');

const CHECKSUM_ALGORITHMS = ['SHA1', 'BLAKE3', 'SHA3-384', 'SHA256', 'SHA384', 'BLAKE2b-512', 'BLAKE2b-256', 'SHA3-512', 'MD2', 'ADLER32', 'MD4', 'SHA3-256', 'BLAKE2b-384', 'SHA512', 'MD6', 'MD5', 'SHA224'] as const;
const checksum = z.strictObject({ algorithm: z.enum(CHECKSUM_ALGORITHMS), checksumValue: z.string().regex(/^[a-f0-9]+$/u) });

const annotation = z.strictObject({ annotationDate: utc, annotationType: z.enum(['OTHER', 'REVIEW']), annotator: z.string(), comment: z.string() });

const externalRef = z.strictObject({
  referenceCategory: z.enum(['OTHER', 'PERSISTENT-ID', 'SECURITY', 'PACKAGE-MANAGER']),
  referenceType: z.string().min(1),
  referenceLocator: z.string().regex(/^\S+$/u, 'no spaces'),
  comment: z.string().optional(),
}).superRefine((ref, ctx) => {
  // Annex F: the locator formats of the listed types stagecraft writes.
  if (ref.referenceType === 'purl' && (ref.referenceCategory !== 'PACKAGE-MANAGER' || !ref.referenceLocator.startsWith('pkg:'))) ctx.addIssue({ code: 'custom', message: 'a purl is a PACKAGE-MANAGER ref starting with pkg:' });
  if (ref.referenceType === 'cpe23Type' && (ref.referenceCategory !== 'SECURITY' || !ref.referenceLocator.startsWith('cpe:2.3:'))) ctx.addIssue({ code: 'custom', message: 'a cpe23Type is a SECURITY ref starting with cpe:2.3:' });
});

const PURPOSES = ['OTHER', 'INSTALL', 'ARCHIVE', 'FIRMWARE', 'APPLICATION', 'FRAMEWORK', 'LIBRARY', 'CONTAINER', 'SOURCE', 'DEVICE', 'OPERATING_SYSTEM', 'FILE'] as const;

const pkg = z.strictObject({
  SPDXID: spdxId,
  name: z.string().min(1),
  downloadLocation: z.string().min(1),
  annotations: z.array(annotation).optional(),
  attributionTexts: z.array(z.string()).optional(),
  builtDate: utc.optional(),
  checksums: z.array(checksum).optional(),
  comment: z.string().optional(),
  copyrightText: z.string().optional(),
  description: z.string().optional(),
  externalRefs: z.array(externalRef).optional(),
  filesAnalyzed: z.boolean().optional(),
  hasFiles: z.array(spdxId).optional(),
  homepage: z.string().optional(),
  licenseComments: z.string().optional(),
  licenseConcluded: z.string().optional(),
  licenseDeclared: z.string().optional(),
  licenseInfoFromFiles: z.array(z.string()).optional(),
  originator: agent.optional(),
  packageFileName: z.string().optional(),
  primaryPackagePurpose: z.enum(PURPOSES).optional(),
  releaseDate: utc.optional(),
  sourceInfo: z.string().optional(),
  summary: z.string().optional(),
  supplier: agent.optional(),
  validUntilDate: utc.optional(),
  versionInfo: z.string().optional(),
});

const FILE_TYPES = ['OTHER', 'DOCUMENTATION', 'IMAGE', 'VIDEO', 'ARCHIVE', 'SPDX', 'APPLICATION', 'SOURCE', 'BINARY', 'TEXT', 'AUDIO'] as const;

const file = z.strictObject({
  SPDXID: spdxId,
  fileName: z.string().min(1),
  checksums: z.array(checksum).min(1),
  annotations: z.array(annotation).optional(),
  comment: z.string().optional(),
  copyrightText: z.string().optional(),
  fileContributors: z.array(z.string()).optional(),
  fileTypes: z.array(z.enum(FILE_TYPES)).optional(),
  licenseComments: z.string().optional(),
  licenseConcluded: z.string().optional(),
  licenseInfoInFiles: z.array(z.string()).optional(),
  noticeText: z.string().optional(),
});

const RELATIONSHIP_TYPES = ['VARIANT_OF', 'COPY_OF', 'PATCH_FOR', 'TEST_DEPENDENCY_OF', 'CONTAINED_BY', 'DATA_FILE_OF', 'OPTIONAL_COMPONENT_OF', 'ANCESTOR_OF', 'GENERATES', 'CONTAINS', 'OPTIONAL_DEPENDENCY_OF', 'FILE_ADDED', 'REQUIREMENT_DESCRIPTION_FOR', 'DEV_DEPENDENCY_OF', 'DEPENDENCY_OF', 'BUILD_DEPENDENCY_OF', 'DESCRIBES', 'PREREQUISITE_FOR', 'HAS_PREREQUISITE', 'PROVIDED_DEPENDENCY_OF', 'DYNAMIC_LINK', 'DESCRIBED_BY', 'METAFILE_OF', 'DEPENDENCY_MANIFEST_OF', 'PATCH_APPLIED', 'RUNTIME_DEPENDENCY_OF', 'TEST_OF', 'TEST_TOOL_OF', 'DEPENDS_ON', 'SPECIFICATION_FOR', 'FILE_MODIFIED', 'DISTRIBUTION_ARTIFACT', 'AMENDS', 'DOCUMENTATION_OF', 'GENERATED_FROM', 'STATIC_LINK', 'OTHER', 'BUILD_TOOL_OF', 'TEST_CASE_OF', 'PACKAGE_OF', 'DESCENDANT_OF', 'FILE_DELETED', 'EXPANDED_FROM_ARCHIVE', 'DEV_TOOL_OF', 'EXAMPLE_OF'] as const;

const relationship = z.strictObject({
  spdxElementId: spdxId,
  relatedSpdxElement: z.union([spdxId, z.literal('NONE'), z.literal('NOASSERTION')]),
  relationshipType: z.enum(RELATIONSHIP_TYPES),
  comment: z.string().optional(),
});

const extractedLicense = z.strictObject({
  licenseId: z.string().regex(/^LicenseRef-[A-Za-z0-9.-]+$/u),
  extractedText: z.string().min(1),
  name: z.string().optional(),
  comment: z.string().optional(),
  seeAlsos: z.array(z.string()).optional(),
});

export const SpdxDocument = z.strictObject({
  SPDXID: z.literal('SPDXRef-DOCUMENT'),
  spdxVersion: z.literal('SPDX-2.3'),
  dataLicense: z.literal('CC0-1.0'),
  name: z.string().min(1),
  documentNamespace: z.string().regex(/^[a-z][a-z0-9+.-]*:[^#\s]+$/u, 'an absolute URI without #'),
  creationInfo: z.strictObject({
    created: utc,
    creators: z.array(z.string().regex(/^(?:Person|Organization|Tool): .+$/u)).min(1),
    comment: z.string().optional(),
    licenseListVersion: z.string().optional(),
  }),
  comment: z.string().optional(),
  documentDescribes: z.array(spdxId).optional(),
  annotations: z.array(annotation).optional(),
  packages: z.array(pkg).optional(),
  files: z.array(file).optional(),
  hasExtractedLicensingInfos: z.array(extractedLicense).optional(),
  relationships: z.array(relationship).optional(),
}).superRefine((doc, ctx) => {
  const ids = new Set<string>(['SPDXRef-DOCUMENT']);
  for (const element of [...(doc.packages ?? []), ...(doc.files ?? [])]) {
    if (ids.has(element.SPDXID)) ctx.addIssue({ code: 'custom', message: `duplicate SPDXID ${element.SPDXID}` });
    ids.add(element.SPDXID);
  }
  for (const [i, rel] of (doc.relationships ?? []).entries()) {
    for (const end of [rel.spdxElementId, rel.relatedSpdxElement]) {
      if (end !== 'NONE' && end !== 'NOASSERTION' && !ids.has(end)) ctx.addIssue({ code: 'custom', path: ['relationships', i], message: `relationship names the unknown element ${end}` });
    }
  }
  const refs = new Set((doc.hasExtractedLicensingInfos ?? []).map((l) => l.licenseId));
  for (const [i, p] of (doc.packages ?? []).entries()) {
    for (const field of [p.licenseDeclared, p.licenseConcluded]) {
      for (const ref of field?.match(/LicenseRef-[A-Za-z0-9.-]+/gu) ?? []) {
        if (!refs.has(ref)) ctx.addIssue({ code: 'custom', path: ['packages', i], message: `${ref} is not defined in hasExtractedLicensingInfos` });
      }
    }
  }
  if (!(doc.relationships ?? []).some((r) => r.spdxElementId === 'SPDXRef-DOCUMENT' && r.relationshipType === 'DESCRIBES') && (doc.documentDescribes ?? []).length === 0) {
    ctx.addIssue({ code: 'custom', message: 'the document describes nothing (no DESCRIBES relationship)' });
  }
});

export type SpdxDocument = z.infer<typeof SpdxDocument>;

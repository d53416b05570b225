/**
 * The children of a manifest or index, for garbage collection and export. Only the descriptor fields
 * are read (schema-checked); everything else in the document is ignored, so this stays independent
 * of any one manifest flavour.
 */
import { z } from 'zod';
import { isDigest, type Digest } from '../core/index.js';

const MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
]);
const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);

/** Whether a blob of this media type may reference other blobs. */
export function mayHaveChildren(mediaType: string | undefined): boolean {
  const base = mediaType?.split(';')[0]?.trim();
  return base !== undefined && (MANIFEST_TYPES.has(base) || INDEX_TYPES.has(base));
}

export interface ChildRef {
  readonly digest: Digest;
  readonly mediaType: string | undefined;
}

const childSchema = z.looseObject({
  mediaType: z.string().optional(),
  digest: z.string().refine(isDigest),
});
const documentSchema = z.looseObject({
  mediaType: z.string().optional(),
  config: z.unknown().optional(),
  layers: z.array(z.unknown()).optional(),
  manifests: z.array(z.unknown()).optional(),
  blobs: z.array(z.unknown()).optional(),
  subject: z.unknown().optional(),
});

/**
 * The descriptors a manifest (config, layers, subject) or index (manifests, subject) points to.
 * Entries that are not descriptors with a sha256 digest are skipped (other algorithms are not stored).
 */
export function childrenOf(document: Uint8Array): ChildRef[] {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(document).toString('utf8'));
  } catch {
    return [];
  }
  const parsed = documentSchema.safeParse(json);
  if (!parsed.success) return [];
  const doc = parsed.data;
  const candidates: unknown[] = [doc.config, ...(doc.layers ?? []), ...(doc.manifests ?? []), ...(doc.blobs ?? []), doc.subject];
  const out: ChildRef[] = [];
  for (const candidate of candidates) {
    const child = childSchema.safeParse(candidate);
    if (child.success) out.push({ digest: child.data.digest, mediaType: child.data.mediaType });
  }
  return out;
}

/** The `mediaType` field of a JSON document, if it is one (for roots whose type is not recorded). */
export function sniffMediaType(document: Uint8Array): string | undefined {
  if (document[0] !== 0x7b) return undefined; // '{'
  try {
    const parsed = documentSchema.safeParse(JSON.parse(Buffer.from(document).toString('utf8')));
    return parsed.success ? parsed.data.mediaType : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How signatures are stored next to an image (pure: bytes in, bytes out).
 *
 * - cosign v3 (specs/BUNDLE_SPEC.md): one OCI 1.1 artifact manifest per bundle: `artifactType` = the
 *   bundle media type, the OCI empty config, one layer = the bundle, `subject` = the signed manifest,
 *   annotations `dev.sigstore.bundle.content: dsse-envelope` and `dev.sigstore.bundle.predicateType`.
 * - The OCI 1.1 referrers tag schema (distribution-spec "Referrers tag schema"): for registries without
 *   the referrers API, an OCI index tagged `sha256-<hex of the subject>` lists the referrers, each
 *   descriptor carrying its manifest's `artifactType` and annotations. Writers merge into it.
 * - Legacy cosign simple signing (specs/SIGNATURE_SPEC.md): an image manifest tagged
 *   `sha256-<hex>.sig` whose layers are `application/vnd.dev.cosign.simplesigning.v1+json` payloads,
 *   each with its base64 signature in the annotation `dev.cosignproject.cosign/signature`.
 */
import { z } from 'zod';
import { sha256Digest, digestHex, type Digest } from '../../core/index.js';
import { MEDIA_TYPES, descriptorSchema, type Descriptor } from '../../oci/index.js';
import { EMPTY_JSON, EMPTY_JSON_DIGEST } from '../storage.js';
import { BUNDLE_MEDIA_TYPE, COSIGN_SIGN_PREDICATE, makeBundle, signatureStatement } from './bundle.js';
import type { SigningKey } from './keys.js';

export const BUNDLE_CONTENT_ANNOTATION = 'dev.sigstore.bundle.content';
export const BUNDLE_PREDICATE_TYPE_ANNOTATION = 'dev.sigstore.bundle.predicateType';
export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const LEGACY_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

export interface ArtifactBlob {
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
}

/** One signature artifact: its manifest (as a referrer descriptor) and the blobs it lists. */
export interface SignatureArtifact {
  /** The manifest's descriptor as a referrers index lists it (artifactType, annotations). */
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
  readonly blobs: readonly ArtifactBlob[];
  readonly predicateType: string;
}

/** The tag of the referrers fallback index of a digest (`sha256-<hex>`), or of the legacy signature. */
export function fallbackTag(subject: Digest): string {
  return `sha256-${digestHex(subject)}`;
}
export function legacySignatureTag(subject: Digest): string {
  return `${fallbackTag(subject)}.sig`;
}
/** Whether a tag is a signature tag (the fallback index or a legacy signature), not an image. */
export function isSignatureTag(tag: string | undefined): boolean {
  return tag !== undefined && /^sha256-[a-f0-9]{64}(\.sig|\.att|\.sbom)?$/.test(tag);
}

function blob(mediaType: string, bytes: Buffer, annotations?: Record<string, string>): ArtifactBlob {
  return { descriptor: { mediaType, digest: sha256Digest(bytes), size: bytes.length, ...(annotations === undefined ? {} : { annotations }) }, bytes };
}

/** The referrer manifest holding `bundle` about `subject`. */
export function bundleArtifact(subject: Descriptor, bundle: Buffer, predicateType: string): SignatureArtifact {
  const layer = blob(BUNDLE_MEDIA_TYPE, bundle);
  const annotations = { [BUNDLE_CONTENT_ANNOTATION]: 'dsse-envelope', [BUNDLE_PREDICATE_TYPE_ANNOTATION]: predicateType };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: { mediaType: MEDIA_TYPES.ociEmpty, digest: EMPTY_JSON_DIGEST, size: EMPTY_JSON.length, data: EMPTY_JSON.toString('base64') },
    layers: [layer.descriptor],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    annotations,
  }));
  return {
    descriptor: { mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(manifest), size: manifest.length, artifactType: BUNDLE_MEDIA_TYPE, annotations },
    bytes: manifest,
    blobs: [{ descriptor: { mediaType: MEDIA_TYPES.ociEmpty, digest: EMPTY_JSON_DIGEST, size: EMPTY_JSON.length }, bytes: Buffer.from(EMPTY_JSON) }, layer],
    predicateType,
  };
}

export interface SignArtifactsInput {
  /** The manifest (or index) to sign. */
  readonly subject: Descriptor;
  /** Attestation statements (their exact bytes) to sign as well, each in its own bundle. */
  readonly statements?: readonly { readonly bytes: Buffer; readonly predicateType: string }[] | undefined;
  readonly key: SigningKey;
}

/** The referrers that sign `subject` (first) and each statement. */
export function signArtifacts(input: SignArtifactsInput): SignatureArtifact[] {
  const out = [bundleArtifact(input.subject, makeBundle(input.key, signatureStatement(input.subject.digest)), COSIGN_SIGN_PREDICATE)];
  for (const statement of input.statements ?? []) out.push(bundleArtifact(input.subject, makeBundle(input.key, statement.bytes), statement.predicateType));
  return out;
}

const indexSchema = z.looseObject({ manifests: z.array(descriptorSchema) });

/** The referrers fallback index: the existing one's entries (if any) plus `add`, each digest once. */
export function mergeFallbackIndex(existing: Uint8Array | undefined, add: readonly Descriptor[]): { readonly bytes: Buffer; readonly descriptor: Descriptor; readonly manifests: readonly Descriptor[] } {
  let manifests: Descriptor[] = [];
  if (existing !== undefined) {
    try {
      const parsed = indexSchema.safeParse(JSON.parse(Buffer.from(existing).toString('utf8')));
      if (parsed.success) manifests = parsed.data.manifests;
    } catch {
      manifests = [];
    }
  }
  for (const d of add) if (!manifests.some((m) => m.digest === d.digest)) manifests.push(d);
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }));
  return { bytes, descriptor: { mediaType: MEDIA_TYPES.ociIndex, digest: sha256Digest(bytes), size: bytes.length }, manifests };
}

/** The referrers an index (the referrers API's answer or the fallback index) lists. */
export function referrersOf(bytes: Uint8Array): Descriptor[] {
  try {
    const parsed = indexSchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
    return parsed.success ? parsed.data.manifests : [];
  } catch {
    return [];
  }
}

/** The simple-signing payload cosign signs for a legacy `.sig` (SIGNATURE_SPEC.md "Payload"). */
export function simpleSigningPayload(subject: Digest, repository: string): Buffer {
  return Buffer.from(JSON.stringify({
    critical: { identity: { 'docker-reference': repository }, image: { 'docker-manifest-digest': subject }, type: 'cosign container image signature' },
    optional: null,
  }));
}

const legacyManifestSchema = z.looseObject({ layers: z.array(descriptorSchema) });

/**
 * The legacy `.sig` manifest: the layers of `existing` (another signer's) plus one simple-signing
 * payload signed by `key` (its bytes, SHA-256, no DSSE).
 */
export function legacySignature(subject: Digest, repository: string, key: SigningKey, existing?: { readonly manifest: Uint8Array; readonly blobs: readonly ArtifactBlob[] }): { readonly bytes: Buffer; readonly descriptor: Descriptor; readonly blobs: readonly ArtifactBlob[] } {
  const payload = simpleSigningPayload(subject, repository);
  const layer = blob(SIMPLE_SIGNING_MEDIA_TYPE, payload, { [LEGACY_SIGNATURE_ANNOTATION]: key.sign(payload).toString('base64') });
  let layers: Descriptor[] = [];
  if (existing !== undefined) {
    const parsed = legacyManifestSchema.safeParse(JSON.parse(Buffer.from(existing.manifest).toString('utf8')));
    if (parsed.success) layers = parsed.data.layers.filter((l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE && l.digest !== layer.descriptor.digest);
  }
  layers.push(layer.descriptor);
  const config = Buffer.from(JSON.stringify({
    architecture: '', os: '', created: '0001-01-01T00:00:00Z', config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
  }));
  const configBlob = blob(MEDIA_TYPES.ociConfig, config);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: configBlob.descriptor, layers }));
  const blobs: ArtifactBlob[] = [configBlob, layer, ...(existing?.blobs ?? []).filter((b) => layers.some((l) => l.digest === b.descriptor.digest) && b.descriptor.digest !== layer.descriptor.digest)];
  return { bytes: manifest, descriptor: { mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(manifest), size: manifest.length }, blobs };
}

export { legacyManifestSchema };

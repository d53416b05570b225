/**
 * BuildKit's attestation storage (moby/buildkit docs/attestations/attestation-storage.md), as bytes:
 *
 * - the attestation manifest: an image manifest whose layers are the statements
 *   (`application/vnd.in-toto+json`, annotated `in-toto.io/predicate-type`). With OCI media types
 *   (BuildKit's default `oci-artifact=true`) it has `artifactType
 *   application/vnd.docker.attestation.manifest.v1+json`, the OCI empty config and `subject` = the image
 *   manifest; with Docker media types (`oci-mediatypes=false`) it is a Docker manifest whose config is a
 *   dummy image config (unknown/unknown, `rootfs.diff_ids` = the statement digests), as BuildKit's
 *   `oci-artifact=false`.
 * - the image index: the image manifest (with its platform), then the attestation manifest with platform
 *   unknown/unknown and the annotations `vnd.docker.reference.type: attestation-manifest` and
 *   `vnd.docker.reference.digest: <image manifest digest>`.
 *
 * Pure: the caller stores the blobs. Same statements, same bytes.
 */
import { sha256Digest, type Digest } from '../core/index.js';
import { MEDIA_TYPES, type Descriptor } from '../oci/index.js';
import { IN_TOTO_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION, type InTotoStatement } from './intoto.js';

export const ATTESTATION_MANIFEST_ARTIFACT_TYPE = 'application/vnd.docker.attestation.manifest.v1+json';
export const REFERENCE_TYPE_ANNOTATION = 'vnd.docker.reference.type';
export const REFERENCE_DIGEST_ANNOTATION = 'vnd.docker.reference.digest';
export const ATTESTATION_REFERENCE_TYPE = 'attestation-manifest';
/** The OCI empty JSON descriptor (image-spec manifest.md, "Guidance for an Empty Descriptor"). */
export const EMPTY_JSON = Buffer.from('{}');
export const EMPTY_JSON_DIGEST = sha256Digest(EMPTY_JSON);
/** BuildKit's cap on one attestation file (attestation-storage.md). */
export const MAX_ATTESTATION_BYTES = 40 * 1024 * 1024;

export interface AttestationBlob {
  readonly digest: Digest;
  readonly bytes: Buffer;
}

export interface AttestedIndex {
  /** Every blob to store: statements, config, the attestation manifest and the index. */
  readonly blobs: readonly AttestationBlob[];
  readonly attestationManifest: Descriptor;
  readonly index: Descriptor;
  /** The statements' layer descriptors, in order. */
  readonly layers: readonly Descriptor[];
}

export interface AttestedIndexOptions {
  /** The image manifest, with the platform the index lists it under. */
  readonly image: { readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly annotations?: Readonly<Record<string, string>> | undefined };
  readonly platform: { readonly os: string; readonly architecture: string; readonly variant?: string | undefined };
  readonly statements: readonly InTotoStatement[];
  /** Docker media types (a manifest list and a Docker manifest with a dummy config) instead of OCI. */
  readonly docker: boolean;
}

function blob(value: unknown): AttestationBlob {
  const bytes = Buffer.from(JSON.stringify(value));
  return { digest: sha256Digest(bytes), bytes };
}

/** Serializes a statement as its blob (one JSON document, as BuildKit marshals it). */
export function statementBlob(statement: InTotoStatement): AttestationBlob {
  return blob(statement);
}

export function assembleAttestedIndex(options: AttestedIndexOptions): AttestedIndex {
  const statements = options.statements.map((s) => ({ statement: s, blob: statementBlob(s) }));
  const layers: Descriptor[] = statements.map(({ statement, blob: b }) => ({
    mediaType: IN_TOTO_MEDIA_TYPE,
    digest: b.digest,
    size: b.bytes.length,
    annotations: { [PREDICATE_TYPE_ANNOTATION]: statement.predicateType },
  }));
  const blobs: AttestationBlob[] = statements.map((s) => s.blob);
  const subject = { mediaType: options.image.mediaType, digest: options.image.digest, size: options.image.size };
  let manifest: Record<string, unknown>;
  if (options.docker) {
    const config = blob({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) } });
    blobs.push(config);
    manifest = { schemaVersion: 2, mediaType: MEDIA_TYPES.dockerManifest, config: { mediaType: MEDIA_TYPES.dockerConfig, digest: config.digest, size: config.bytes.length }, layers };
  } else {
    blobs.push({ digest: EMPTY_JSON_DIGEST, bytes: EMPTY_JSON });
    manifest = {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: ATTESTATION_MANIFEST_ARTIFACT_TYPE,
      config: { mediaType: MEDIA_TYPES.ociEmpty, digest: EMPTY_JSON_DIGEST, size: EMPTY_JSON.length, data: EMPTY_JSON.toString('base64') },
      layers,
      subject,
    };
  }
  const manifestBlob = blob(manifest);
  blobs.push(manifestBlob);
  const manifestType = options.docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const attestationManifest: Descriptor = {
    mediaType: manifestType,
    digest: manifestBlob.digest,
    size: manifestBlob.bytes.length,
    annotations: { [REFERENCE_DIGEST_ANNOTATION]: options.image.digest, [REFERENCE_TYPE_ANNOTATION]: ATTESTATION_REFERENCE_TYPE },
    platform: { architecture: 'unknown', os: 'unknown' },
  };
  const platform = { architecture: options.platform.architecture, os: options.platform.os, ...(options.platform.variant === undefined ? {} : { variant: options.platform.variant }) };
  const imageEntry: Descriptor = {
    ...subject,
    ...(options.image.annotations === undefined || Object.keys(options.image.annotations).length === 0 ? {} : { annotations: { ...options.image.annotations } }),
    platform,
  };
  const indexType = options.docker ? MEDIA_TYPES.dockerManifestList : MEDIA_TYPES.ociIndex;
  const indexBlob = blob({ schemaVersion: 2, mediaType: indexType, manifests: [imageEntry, attestationManifest] });
  blobs.push(indexBlob);
  return {
    blobs,
    attestationManifest,
    index: { mediaType: indexType, digest: indexBlob.digest, size: indexBlob.bytes.length },
    layers,
  };
}

/** The attestation manifests of an index: descriptors typed attestation-manifest, with the manifest they refer to. */
export function attestationManifestsOf(manifests: readonly Descriptor[]): { readonly descriptor: Descriptor; readonly refersTo: string | undefined }[] {
  return manifests
    .filter((m) => m.annotations?.[REFERENCE_TYPE_ANNOTATION] === ATTESTATION_REFERENCE_TYPE)
    .map((m) => ({ descriptor: m, refersTo: m.annotations?.[REFERENCE_DIGEST_ANNOTATION] }));
}

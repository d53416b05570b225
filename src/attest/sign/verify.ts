/**
 * Verifying an image's signatures with a public key, wherever they are stored (a `SignatureSource`:
 * the local store or a registry). Discovery as cosign: the referrers (API, then the `sha256-<hex>`
 * fallback index), then a legacy `.sig`. An image signature counts when its bundle verifies with the
 * key, its referrer manifest's `subject` is the image manifest, and the signed statement's subject
 * digest is the image manifest digest. With attestations, each statement must be the payload of a
 * verified bundle about the image, and name the image's digest as its subject.
 */
import { z } from 'zod';
import { StagecraftError, digestHex, sha256Digest, type Digest } from '../../core/index.js';
import { descriptorSchema, type Descriptor } from '../../oci/index.js';
import { BUNDLE_MEDIA_TYPE, COSIGN_SIGN_PREDICATE, MAX_BUNDLE_BYTES, verifyBundle } from './bundle.js';
import { LEGACY_SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE } from './artifacts.js';
import { verifySignature, type VerifyingKey } from './keys.js';

/** Where an image's signatures are read from. Each call reads bytes verified against their digest. */
export interface SignatureSource {
  /** The referrers of `subject` (the referrers API or the fallback index); [] when none. */
  referrers(subject: Digest): Promise<readonly Descriptor[]>;
  /** A manifest's bytes by digest. */
  manifest(descriptor: Descriptor): Promise<Buffer>;
  /** A blob's bytes (the caller checked its size). */
  blob(descriptor: Descriptor): Promise<Buffer>;
  /** The legacy `.sig` manifests of `subject`, with a reader for their layers. */
  legacy(subject: Digest): Promise<readonly Buffer[]>;
}

export interface VerifyInput {
  readonly source: SignatureSource;
  readonly key: VerifyingKey;
  /** The image manifest digest the signatures must be about. */
  readonly subject: Digest;
  /** The index that lists the manifest (what its tag resolves to): a signature of it counts too. */
  readonly index?: Digest | undefined;
  /** The attestation statements to check (the statement blobs' descriptors), when asked to. */
  readonly attestations?: readonly Descriptor[] | undefined;
}

export interface VerifyResult {
  readonly subject: Digest;
  /** The image signatures that verified: how they are stored, their digest, and the digest they sign (the manifest, or its index). */
  readonly signatures: readonly { readonly kind: 'bundle' | 'legacy'; readonly digest: Digest; readonly subject: Digest }[];
  /** The attestations verified, by predicate type. */
  readonly attestations: readonly { readonly predicateType: string; readonly digest: Digest }[];
}

const artifactManifestSchema = z.looseObject({ layers: z.array(descriptorSchema), subject: descriptorSchema.optional() });
const simpleSigningSchema = z.looseObject({ critical: z.looseObject({ image: z.looseObject({ 'docker-manifest-digest': z.string() }), type: z.string() }) });

function parseJson(bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

interface Found {
  readonly signatures: { kind: 'bundle' | 'legacy'; digest: Digest; subject: Digest }[];
  readonly reasons: string[];
  /** Verified attestation payloads (by their digest) → predicate type. */
  readonly payloads: Map<Digest, string>;
  readonly referrers: number;
}

/** The image signatures by `key` about `subject` (bundles, else legacy), with why others did not count. */
async function signaturesAbout(source: SignatureSource, key: VerifyingKey, subject: Digest): Promise<Found> {
  const found: Found = { signatures: [], reasons: [], payloads: new Map(), referrers: 0 };
  const { signatures, reasons } = found;
  const referrers = (await source.referrers(subject)).filter((r) => r.artifactType === BUNDLE_MEDIA_TYPE || r.artifactType === undefined);
  for (const referrer of referrers) {
    const what = `signature ${referrer.digest}`;
    const manifest = artifactManifestSchema.safeParse(parseJson(await source.manifest(referrer)));
    if (!manifest.success) {
      reasons.push(`${what} is not a manifest`);
      continue;
    }
    if (manifest.data.subject?.digest !== subject) {
      reasons.push(`${what} is about ${manifest.data.subject?.digest ?? 'no subject'}, not ${subject}`);
      continue;
    }
    const layer = manifest.data.layers.find((l) => l.mediaType === BUNDLE_MEDIA_TYPE);
    if (layer === undefined) continue;
    if (layer.size > MAX_BUNDLE_BYTES) {
      reasons.push(`${what}: the bundle is ${layer.size} bytes`);
      continue;
    }
    let verified;
    try {
      verified = verifyBundle(await source.blob(layer), key, what);
    } catch (error) {
      if (!(error instanceof StagecraftError)) throw error;
      reasons.push(error.message);
      continue;
    }
    const about = verified.statement.subject.some((s) => s.digest.sha256 === digestHex(subject));
    if (verified.statement.predicateType === COSIGN_SIGN_PREDICATE) {
      if (about) signatures.push({ kind: 'bundle', digest: referrer.digest, subject });
      else reasons.push(`${what}: the signed statement names ${verified.statement.subject.map((s) => `sha256:${s.digest.sha256 ?? '?'}`).join(', ')}, not ${subject}`);
    } else {
      found.payloads.set(sha256Digest(verified.payload), verified.statement.predicateType);
    }
  }
  if (signatures.length === 0) {
    for (const bytes of await source.legacy(subject)) {
      const manifest = artifactManifestSchema.safeParse(parseJson(bytes));
      if (!manifest.success) continue;
      for (const layer of manifest.data.layers) {
        if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE || layer.size > 64 * 1024) continue;
        const signature = layer.annotations?.[LEGACY_SIGNATURE_ANNOTATION];
        if (signature === undefined) continue;
        const payload = await source.blob(layer);
        if (!verifySignature(key, payload, Buffer.from(signature, 'base64'))) {
          reasons.push(`legacy signature ${layer.digest} does not verify with ${key.source}`);
          continue;
        }
        const parsed = simpleSigningSchema.safeParse(parseJson(payload));
        if (parsed.success && parsed.data.critical.image['docker-manifest-digest'] === subject) signatures.push({ kind: 'legacy', digest: layer.digest, subject });
        else reasons.push(`legacy signature ${layer.digest} is not about ${subject}`);
      }
    }
  }
  return { ...found, referrers: referrers.length };
}

/** Verifies; throws SIGNATURE_INVALID naming every reason when the image signature (or an attestation) fails. */
export async function verifyImageSignatures(input: VerifyInput): Promise<VerifyResult> {
  const { source, key, subject } = input;
  const found = await signaturesAbout(source, key, subject);
  let signatures = found.signatures;
  const reasons = [...found.reasons];
  // A signature of the index the image's tag resolves to covers the manifest it lists (what `cosign sign repo:tag` signs).
  if (signatures.length === 0 && input.index !== undefined) {
    const viaIndex = await signaturesAbout(source, key, input.index);
    signatures = viaIndex.signatures;
    reasons.push(...viaIndex.reasons);
  }
  const signedPayloads = found.payloads;
  if (signatures.length === 0) {
    const none = found.referrers === 0 && reasons.length === 0 ? 'no signature found (no referrers, no sha256-<hex> fallback tag, no .sig)' : reasons.join('; ');
    throw new StagecraftError('SIGNATURE_INVALID', `${subject} is not signed by ${key.source}: ${none}`, {
      hint: 'sign it with `stagecraft sign --key cosign.key IMAGE` (or `build --sign key=cosign.key`), and verify with the matching cosign.pub',
    });
  }
  const attestations: { predicateType: string; digest: Digest }[] = [];
  const failed: string[] = [];
  const statementSchema = z.looseObject({ subject: z.array(z.looseObject({ digest: z.record(z.string(), z.string()) })) });
  for (const statement of input.attestations ?? []) {
    const type = signedPayloads.get(statement.digest);
    const name = statement.annotations?.['in-toto.io/predicate-type'] ?? 'attestation';
    if (type === undefined) {
      failed.push(`${name} ${statement.digest} has no signature by ${key.source}`);
      continue;
    }
    // The statement's own subject must be the image: a signed statement about another image does not count.
    const parsed = statementSchema.safeParse(parseJson(await source.blob(statement)));
    if (!parsed.success || !parsed.data.subject.some((s) => s.digest.sha256 === digestHex(subject))) {
      failed.push(`${name} ${statement.digest} is signed but not about ${subject}`);
      continue;
    }
    attestations.push({ predicateType: type, digest: statement.digest });
  }
  if (failed.length > 0) {
    throw new StagecraftError('SIGNATURE_INVALID', `attestations of ${subject} do not verify: ${failed.join('; ')}`, {
      hint: 'sign the image with its attestations (`stagecraft sign` signs each statement; `build --sign` does it in the build)',
    });
  }
  return { subject, signatures, attestations };
}

/**
 * Signatures in the local store, kept as a registry keeps them: the referrer manifests and their blobs
 * in the content store, and for each repository the image is named in, the referrers fallback index
 * named `<repo>:sha256-<hex>` (and a legacy `<repo>:sha256-<hex>.sig`). A name keeps them from GC and
 * `push` sends them with the image. Image listings skip these names (`isSignatureTag`).
 */
import { StagecraftError, formatImageRef, imageRefName, parseImageRef, sha256Digest, type Digest } from '../../core/index.js';
import type { Content } from '../../content/index.js';
import { MEDIA_TYPES, type Descriptor } from '../../oci/index.js';
import { MAX_ATTESTATION_BYTES } from '../storage.js';
import {
  fallbackTag,
  legacySignature,
  legacySignatureTag,
  mergeFallbackIndex,
  referrersOf,
  signArtifacts,
  type ArtifactBlob,
  type SignatureArtifact,
} from './artifacts.js';
import type { SigningKey } from './keys.js';
import type { SignatureSource } from './verify.js';

export interface SignImageInput {
  readonly content: Content;
  /** The image manifest to sign. */
  readonly subject: { readonly mediaType: string; readonly digest: Digest; readonly size: number };
  /** Attestation statements (blobs in the store) to sign too, each with its own bundle about the subject. */
  readonly statements?: readonly { readonly digest: Digest }[] | undefined;
  readonly key: SigningKey;
  readonly signal?: AbortSignal | undefined;
  /** The image's names: each repository gets the fallback index (and the legacy signature). */
  readonly names?: readonly string[] | undefined;
  /** The index the image is pushed as (what its tag resolves to): signed too, as `cosign sign repo:tag` would. */
  readonly index?: { readonly mediaType: string; readonly digest: Digest; readonly size: number } | undefined;
  /** Also write a legacy cosign `.sig` signature. */
  readonly legacy?: boolean | undefined;
}

export interface SignatureSet {
  /** The signed digests (the manifest, then the index if any). */
  readonly subjects: readonly Digest[];
  /** The referrer manifests made (image signatures and attestation signatures). */
  readonly referrers: readonly Descriptor[];
  /** The store names that now hold them (`<repo>:sha256-<hex>` and `.sig`). */
  readonly names: readonly string[];
}

const statementTypeSchema = (bytes: Buffer): string => {
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'predicateType' in parsed && typeof parsed.predicateType === 'string') return parsed.predicateType;
  } catch {
    // reported below
  }
  throw new StagecraftError('INVALID_MANIFEST', `the attestation ${sha256Digest(bytes)} is not an in-toto statement`, { hint: 'rebuild the image' });
};

async function putBlobs(content: Content, blobs: readonly ArtifactBlob[], signal: AbortSignal | undefined): Promise<void> {
  for (const b of blobs) await content.blobs.put(b.bytes, { digest: b.descriptor.digest, signal });
}

async function storeArtifacts(content: Content, artifacts: readonly SignatureArtifact[], signal: AbortSignal | undefined): Promise<void> {
  for (const a of artifacts) {
    await putBlobs(content, a.blobs, signal);
    await content.blobs.put(a.bytes, { digest: a.descriptor.digest, signal });
  }
}

/** Points `<repo>:<tag>` at the fallback index of `subject`, merged with the one already there. */
async function nameFallback(content: Content, repository: string, subject: Digest, add: readonly Descriptor[], signal: AbortSignal | undefined): Promise<string> {
  const name = `${repository}:${fallbackTag(subject)}`;
  const existing = content.references.get(name);
  const old = existing === undefined ? undefined : await content.blobs.read(existing.digest).catch(() => undefined);
  const merged = mergeFallbackIndex(old, add);
  await content.blobs.put(merged.bytes, { digest: merged.descriptor.digest, signal });
  content.references.set(name, { digest: merged.descriptor.digest, mediaType: MEDIA_TYPES.ociIndex, size: merged.bytes.length });
  return name;
}

/** The statements' bytes, read from the store (each at most the attestation size limit). */
async function readStatements(content: Content, statements: readonly { readonly digest: Digest }[]): Promise<{ bytes: Buffer; predicateType: string }[]> {
  const out: { bytes: Buffer; predicateType: string }[] = [];
  for (const s of statements) {
    const bytes = await content.blobs.read(s.digest);
    if (bytes.length > MAX_ATTESTATION_BYTES) throw new StagecraftError('INVALID_MANIFEST', `attestation ${s.digest} is ${bytes.length} bytes, over the ${MAX_ATTESTATION_BYTES}-byte limit`);
    out.push({ bytes, predicateType: statementTypeSchema(bytes) });
  }
  return out;
}

/**
 * Signs an image in the local store: a cosign v3 bundle about the manifest (and the index, if given),
 * one about the manifest per attestation statement, stored as referrers and named for each repository.
 */
export async function signImage(input: SignImageInput): Promise<SignatureSet> {
  const { content, key, signal } = input;
  const repositories = [...new Set((input.names ?? []).map((n) => imageRefName(parseImageRef(n))))];
  const statements = await readStatements(content, input.statements ?? []);
  const subjects = [input.subject, ...(input.index === undefined ? [] : [input.index])];
  const referrers: Descriptor[] = [];
  const names: string[] = [];
  for (const [i, subject] of subjects.entries()) {
    signal?.throwIfAborted();
    const artifacts = signArtifacts({ subject, statements: i === 0 ? statements : [], key });
    await storeArtifacts(content, artifacts, signal);
    referrers.push(...artifacts.map((a) => a.descriptor));
    for (const repository of repositories) {
      names.push(await nameFallback(content, repository, subject.digest, artifacts.map((a) => a.descriptor), signal));
      if (input.legacy === true) {
        const name = `${repository}:${legacySignatureTag(subject.digest)}`;
        const existing = content.references.get(name);
        const previous = existing === undefined ? undefined : { manifest: await content.blobs.read(existing.digest), blobs: [] };
        const legacy = legacySignature(subject.digest, repository, key, previous);
        await putBlobs(content, legacy.blobs, signal);
        await content.blobs.put(legacy.bytes, { digest: legacy.descriptor.digest, signal });
        content.references.set(name, { digest: legacy.descriptor.digest, mediaType: MEDIA_TYPES.ociManifest, size: legacy.bytes.length });
        names.push(name);
      }
    }
  }
  return { subjects: subjects.map((s) => s.digest), referrers, names };
}

/** The referrers of `subject` the local store names (every repository's fallback index, merged). */
export async function localReferrers(content: Content, subject: Digest): Promise<Descriptor[]> {
  const tag = fallbackTag(subject);
  const out: Descriptor[] = [];
  for (const ref of content.references.list()) {
    if (parseImageRef(ref.name).tag !== tag) continue;
    const bytes = await content.blobs.read(ref.digest).catch(() => undefined);
    if (bytes === undefined) continue;
    for (const d of referrersOf(bytes)) if (!out.some((o) => o.digest === d.digest)) out.push(d);
  }
  return out;
}

/** The legacy `.sig` manifests the local store names for `subject`. */
export async function localLegacySignatures(content: Content, subject: Digest): Promise<Buffer[]> {
  const tag = legacySignatureTag(subject);
  const out: Buffer[] = [];
  for (const ref of content.references.list()) {
    if (parseImageRef(ref.name).tag !== tag) continue;
    const bytes = await content.blobs.read(ref.digest).catch(() => undefined);
    if (bytes !== undefined) out.push(bytes);
  }
  return out;
}

/** The store names holding signatures of `subjects` for the repository of `name` (what push sends). */
export function signatureNamesFor(content: Content, name: string, subjects: readonly Digest[]): { readonly name: string; readonly tag: string; readonly legacy: boolean }[] {
  const repository = imageRefName(parseImageRef(name));
  const out: { name: string; tag: string; legacy: boolean }[] = [];
  for (const subject of subjects) {
    for (const [tag, legacy] of [[fallbackTag(subject), false], [legacySignatureTag(subject), true]] as const) {
      const full = formatImageRef({ ...parseImageRef(`${repository}:${tag}`) });
      if (content.references.get(full) !== undefined) out.push({ name: full, tag, legacy });
    }
  }
  return out;
}

/** Reads signatures from the local store. */
export function localSignatureSource(content: Content): SignatureSource {
  return {
    referrers: (subject) => localReferrers(content, subject),
    manifest: (d) => content.blobs.read(d.digest),
    blob: (d) => content.blobs.read(d.digest),
    legacy: (subject) => localLegacySignatures(content, subject),
  };
}

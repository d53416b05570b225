/**
 * `sign` and `verify --key`: an image of the local store (signed in the form `push` sends it, the
 * signatures named next to it so push carries them), else an image in its registry (signed there).
 */
import { z } from 'zod';
import {
  IN_TOTO_MEDIA_TYPE,
  attestationManifestsOf,
  localSignatureSource,
  registrySignatureSource,
  signImage,
  signRemote,
  verifyImageSignatures,
  type SigningKey,
  type VerifyResult,
  type VerifyingKey,
} from '../attest/index.js';
import { StagecraftError, formatImageRef, parseImageRef, type Digest } from '../core/index.js';
import type { Content, ImageReference } from '../content/index.js';
import { descriptorSchema, type Descriptor } from '../oci/index.js';
import { findImage, toPushableForm, type ImageDeps } from './images.js';

export interface SignOptions {
  readonly legacy?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface SignResult {
  /** Where the image is: the local store, or the registry the signatures were pushed to. */
  readonly location: 'local' | 'registry';
  readonly image: string;
  readonly subjects: readonly Digest[];
  readonly signatures: number;
  readonly attestations: number;
}

export interface VerifySignatureOptions {
  readonly attestations?: boolean | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface VerifySignatureResult extends VerifyResult {
  readonly location: 'local' | 'registry';
  readonly image: string;
}

const indexSchema = z.looseObject({ manifests: z.array(descriptorSchema) });
const manifestSchema = z.looseObject({ layers: z.array(descriptorSchema) });

function json(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The statement layers of the attestation manifests (read by `read`) that refer to `manifest`. */
async function statementsOf(index: readonly Descriptor[], manifest: Digest, read: (d: Descriptor) => Promise<Uint8Array>): Promise<Descriptor[]> {
  const out: Descriptor[] = [];
  for (const { descriptor } of attestationManifestsOf(index).filter((a) => a.refersTo === manifest)) {
    const parsed = manifestSchema.safeParse(json(await read(descriptor)));
    if (!parsed.success) throw new StagecraftError('INVALID_MANIFEST', `attestation manifest ${descriptor.digest} is malformed`);
    out.push(...parsed.data.layers.filter((l) => l.mediaType === IN_TOTO_MEDIA_TYPE));
  }
  return out;
}

async function localStatements(content: Content, ref: ImageReference): Promise<Descriptor[]> {
  const index = content.references.completeIndex(ref);
  if (index === undefined) return [];
  const parsed = indexSchema.safeParse(json(await content.blobs.read(index.digest)));
  if (!parsed.success) return [];
  return statementsOf(parsed.data.manifests, ref.digest, (d) => content.blobs.read(d.digest));
}

/** The local image `text` names, or undefined when it is a reference the store does not hold. */
async function localImage(content: Content, text: string): Promise<ImageReference | undefined> {
  try {
    return await findImage(content, text);
  } catch (error) {
    if (error instanceof StagecraftError && error.code === 'NOT_FOUND' && !text.startsWith('sha256:')) return undefined;
    throw error;
  }
}

/** Signs a just-built image (build --sign): the manifest, its index and each attestation statement in the index. */
export async function signBuiltImage(content: Content, input: { readonly image: Descriptor; readonly index: Descriptor | undefined; readonly names: readonly string[]; readonly key: SigningKey; readonly legacy: boolean; readonly signal: AbortSignal }): Promise<void> {
  let statements: Descriptor[] = [];
  if (input.index !== undefined) {
    const parsed = indexSchema.safeParse(json(await content.blobs.read(input.index.digest)));
    if (parsed.success) statements = await statementsOf(parsed.data.manifests, input.image.digest, (d) => content.blobs.read(d.digest));
  }
  await signImage({
    content,
    subject: { mediaType: input.image.mediaType, digest: input.image.digest, size: input.image.size },
    ...(input.index === undefined ? {} : { index: { mediaType: input.index.mediaType, digest: input.index.digest, size: input.index.size } }),
    statements,
    key: input.key,
    names: input.names,
    legacy: input.legacy,
    signal: input.signal,
  });
}

export async function signStoredImage(deps: ImageDeps, text: string, key: SigningKey, options: SignOptions = {}): Promise<SignResult> {
  const content = await deps.content();
  const found = await localImage(content, text);
  if (found === undefined) {
    const ref = parseImageRef(text);
    const result = await signRemote({ registry: deps.registry, ref, key, legacy: options.legacy === true, signal: options.signal });
    return { location: 'registry', image: formatImageRef(ref), subjects: result.subjects, signatures: result.referrers.length - result.attestations, attestations: result.attestations };
  }
  const local = await toPushableForm(content, found, options.signal);
  const names = content.references.byDigest(local.digest).filter((r) => r.digest === local.digest).map((r) => r.name);
  const statements = await localStatements(content, local);
  const index = content.references.completeIndex(local);
  const set = await signImage({
    content,
    subject: { mediaType: local.mediaType, digest: local.digest, size: local.size },
    ...(index === undefined ? {} : { index: { mediaType: index.mediaType, digest: index.digest, size: index.size } }),
    statements,
    key,
    names,
    legacy: options.legacy,
    signal: options.signal,
  });
  return { location: 'local', image: local.name, subjects: set.subjects, signatures: set.subjects.length, attestations: statements.length };
}

export async function verifyImageSignature(deps: ImageDeps, text: string, key: VerifyingKey, options: VerifySignatureOptions = {}): Promise<VerifySignatureResult> {
  const content = await deps.content();
  const local = await localImage(content, text);
  if (local !== undefined) {
    const attestations = options.attestations === true ? await localStatements(content, local) : undefined;
    const result = await verifyImageSignatures({ source: localSignatureSource(content), key, subject: local.digest, index: content.references.completeIndex(local)?.digest, attestations });
    return { ...result, location: 'local', image: local.name };
  }
  const ref = parseImageRef(text);
  const resolved = await deps.registry.resolve(ref, { platform: deps.defaultPlatform, signal: options.signal });
  let attestations: Descriptor[] | undefined;
  if (options.attestations === true) {
    const index = resolved.index === undefined ? undefined : indexSchema.safeParse(json(resolved.index.bytes));
    attestations = index?.success === true
      ? await statementsOf(index.data.manifests, resolved.descriptor.digest, async (d) => (await deps.registry.fetchManifest(ref, d.digest, { signal: options.signal, descriptorMediaType: d.mediaType })).bytes)
      : [];
  }
  const source = registrySignatureSource(deps.registry, ref, options.signal);
  const result = await verifyImageSignatures({ source, key, subject: resolved.descriptor.digest, index: resolved.index?.descriptor.digest, attestations });
  return { ...result, location: 'registry', image: formatImageRef(ref) };
}

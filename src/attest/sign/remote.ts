/**
 * Signatures in a registry: pushing the local store's signatures with an image, signing an image that
 * is only in a registry, and reading signatures back (`SignatureSource`). Referrer manifests are pushed
 * by digest; the `sha256-<hex>` fallback index is merged with the registry's (other signers' entries
 * stay), since docker-registry 2.8 has no referrers API.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { StagecraftError, imageRefName, type Digest, type ImageRef } from '../../core/index.js';
import type { Content } from '../../content/index.js';
import { MEDIA_TYPES, descriptorSchema, type Descriptor } from '../../oci/index.js';
import type { RegistryClient } from '../../registry/index.js';
import { IN_TOTO_MEDIA_TYPE, PREDICATE_TYPE_ANNOTATION } from '../intoto.js';
import { MAX_ATTESTATION_BYTES, attestationManifestsOf } from '../storage.js';
import { fallbackTag, legacySignature, legacySignatureTag, mergeFallbackIndex, referrersOf, signArtifacts, type ArtifactBlob } from './artifacts.js';
import type { SigningKey } from './keys.js';
import { signatureNamesFor } from './local.js';
import type { SignatureSource } from './verify.js';

const manifestSchema = z.looseObject({ config: descriptorSchema.optional(), layers: z.array(descriptorSchema) });
const indexSchema = z.looseObject({ manifests: z.array(descriptorSchema) });

function parse<T>(schema: z.ZodType<T>, bytes: Uint8Array, what: string): T {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    json = undefined;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new StagecraftError('INVALID_MANIFEST', `${what} is not a valid manifest or index`);
  return parsed.data;
}

async function optionalManifest(registry: RegistryClient, repo: ImageRef, tag: string, signal: AbortSignal | undefined): Promise<Uint8Array | undefined> {
  try {
    return (await registry.fetchManifest(repo, tag, { signal })).bytes;
  } catch (error) {
    if (error instanceof StagecraftError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }
}

/** Puts the fallback index of `subject` in `repo`, merged with what the registry has under that tag. */
async function putFallback(registry: RegistryClient, repo: ImageRef, subject: Digest, add: readonly Descriptor[], signal: AbortSignal | undefined): Promise<void> {
  const existing = await optionalManifest(registry, repo, fallbackTag(subject), signal);
  const merged = mergeFallbackIndex(existing, add);
  await registry.putManifest(repo, fallbackTag(subject), MEDIA_TYPES.ociIndex, merged.bytes, { signal });
}

/**
 * Pushes the signatures the local store holds for `subjects` under the repository of `localName`
 * to `target`'s repository. Returns the tags written.
 */
export async function pushSignatures(content: Content, registry: RegistryClient, localName: string, target: ImageRef, subjects: readonly Digest[], signal?: AbortSignal): Promise<string[]> {
  const pushed: string[] = [];
  const pushBlob = async (d: Descriptor): Promise<void> => {
    await registry.pushBlob(target, d, () => createReadStream(content.blobs.blobPath(d.digest)), { signal });
  };
  for (const entry of signatureNamesFor(content, localName, subjects)) {
    const ref = content.references.get(entry.name);
    if (ref === undefined) continue;
    const bytes = await content.blobs.read(ref.digest);
    const subject = subjects.find((s) => entry.tag.startsWith(fallbackTag(s)));
    if (subject === undefined) continue;
    if (entry.legacy) {
      const manifest = parse(manifestSchema, bytes, `legacy signature ${entry.name}`);
      // Merge with the registry's .sig (another signer's layers stay), re-signing nothing: the layers are copied.
      const remote = await optionalManifest(registry, target, entry.tag, signal);
      const remoteLayers = remote === undefined ? [] : parse(manifestSchema, remote, `${imageRefName(target)}:${entry.tag}`).layers;
      const layers = [...remoteLayers.filter((l) => !manifest.layers.some((m) => m.digest === l.digest)), ...manifest.layers];
      if (layers.length === manifest.layers.length) {
        for (const d of [...(manifest.config === undefined ? [] : [manifest.config]), ...manifest.layers]) await pushBlob(d);
        await registry.putManifest(target, entry.tag, MEDIA_TYPES.ociManifest, bytes, { signal });
      } else {
        // The merged manifest needs a config listing every layer: rebuild it from the local signature's layers plus the remote ones.
        const config = Buffer.from(JSON.stringify({ architecture: '', os: '', created: '0001-01-01T00:00:00Z', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) }, history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })) }));
        const configBlob = await content.blobs.put(config);
        const configDescriptor = { mediaType: MEDIA_TYPES.ociConfig, digest: configBlob.digest, size: config.length };
        for (const d of [configDescriptor, ...manifest.layers]) await pushBlob(d);
        const merged = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest, config: configDescriptor, layers }));
        await registry.putManifest(target, entry.tag, MEDIA_TYPES.ociManifest, merged, { signal });
      }
      pushed.push(entry.tag);
      continue;
    }
    const referrers = referrersOf(bytes);
    for (const referrer of referrers) {
      const manifestBytes = await content.blobs.read(referrer.digest);
      const manifest = parse(manifestSchema, manifestBytes, `signature ${referrer.digest}`);
      for (const d of [...(manifest.config === undefined ? [] : [manifest.config]), ...manifest.layers]) await pushBlob(d);
      await registry.putManifest(target, referrer.digest, referrer.mediaType, manifestBytes, { signal });
    }
    await putFallback(registry, target, subject, referrers, signal);
    pushed.push(entry.tag);
  }
  return pushed;
}

/** What `signRemote` signed. */
export interface RemoteSignResult {
  readonly subjects: readonly Digest[];
  readonly referrers: readonly Descriptor[];
  readonly attestations: number;
}

/**
 * Signs an image in a registry: the manifest (or index) the reference resolves to and, for an index,
 * each image manifest in it with its attestation statements; pushes the signatures there.
 */
export async function signRemote(input: { readonly registry: RegistryClient; readonly ref: ImageRef; readonly key: SigningKey; readonly legacy: boolean; readonly signal?: AbortSignal | undefined }): Promise<RemoteSignResult> {
  const { registry, ref, key, signal } = input;
  const root = await registry.fetchManifest(ref, ref.digest ?? ref.tag ?? 'latest', { signal });
  const repository = imageRefName(ref);
  const subjects: { descriptor: Descriptor; statements: { bytes: Buffer; predicateType: string }[] }[] = [{ descriptor: root.descriptor, statements: [] }];
  if (root.parsed.kind === 'index') {
    const index = parse(indexSchema, root.bytes, `index ${root.descriptor.digest}`);
    const attestations = attestationManifestsOf(index.manifests);
    for (const m of index.manifests) {
      if (m.platform?.os === 'unknown' || attestations.some((a) => a.descriptor.digest === m.digest)) continue;
      const statements: { bytes: Buffer; predicateType: string }[] = [];
      for (const a of attestations.filter((x) => x.refersTo === m.digest)) {
        const manifest = parse(manifestSchema, (await registry.fetchManifest(ref, a.descriptor.digest, { signal })).bytes, `attestation manifest ${a.descriptor.digest}`);
        for (const layer of manifest.layers) {
          if (layer.mediaType !== IN_TOTO_MEDIA_TYPE || layer.size > MAX_ATTESTATION_BYTES) continue;
          statements.push({ bytes: await registry.fetchBlobBytes(ref, layer, { signal }), predicateType: layer.annotations?.[PREDICATE_TYPE_ANNOTATION] ?? '' });
        }
      }
      subjects.push({ descriptor: { mediaType: m.mediaType, digest: m.digest, size: m.size }, statements });
    }
  }
  const referrers: Descriptor[] = [];
  let attestationCount = 0;
  for (const subject of subjects) {
    const artifacts = signArtifacts({ subject: subject.descriptor, statements: subject.statements, key });
    attestationCount += subject.statements.length;
    for (const a of artifacts) {
      for (const b of a.blobs) await pushBytes(registry, ref, b, signal);
      await registry.putManifest(ref, a.descriptor.digest, a.descriptor.mediaType, a.bytes, { signal });
      referrers.push(a.descriptor);
    }
    await putFallback(registry, ref, subject.descriptor.digest, artifacts.map((a) => a.descriptor), signal);
    if (input.legacy) {
      const existing = await optionalManifest(registry, ref, legacySignatureTag(subject.descriptor.digest), signal);
      const previous = existing === undefined ? undefined : { manifest: existing, blobs: [] };
      const legacy = legacySignature(subject.descriptor.digest, repository, key, previous);
      for (const b of legacy.blobs) await pushBytes(registry, ref, b, signal);
      await registry.putManifest(ref, legacySignatureTag(subject.descriptor.digest), MEDIA_TYPES.ociManifest, legacy.bytes, { signal });
    }
  }
  return { subjects: subjects.map((s) => s.descriptor.digest), referrers, attestations: attestationCount };
}

async function pushBytes(registry: RegistryClient, repo: ImageRef, b: ArtifactBlob, signal: AbortSignal | undefined): Promise<void> {
  await registry.pushBlob(repo, b.descriptor, () => Readable.from([b.bytes]), { signal });
}

/** Reads signatures from a registry: the referrers API, else the fallback tag; legacy `.sig` tags. */
export function registrySignatureSource(registry: RegistryClient, repo: ImageRef, signal?: AbortSignal): SignatureSource {
  return {
    referrers: async (subject) => {
      const api = await registry.referrers(repo, subject, { signal });
      const fromApi = api === undefined ? [] : referrersOf(api);
      if (fromApi.length > 0) return fromApi;
      const fallback = await optionalManifest(registry, repo, fallbackTag(subject), signal);
      return fallback === undefined ? [] : referrersOf(fallback);
    },
    manifest: async (d) => Buffer.from((await registry.fetchManifest(repo, d.digest, { signal, descriptorMediaType: d.mediaType })).bytes),
    blob: async (d) => registry.fetchBlobBytes(repo, d, { signal }),
    legacy: async (subject) => {
      const bytes = await optionalManifest(registry, repo, legacySignatureTag(subject), signal);
      return bytes === undefined ? [] : [Buffer.from(bytes)];
    },
  };
}

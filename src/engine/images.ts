/**
 * Image operations on the local store and registries: pull, push, list, inspect, tag, remove, save,
 * load. Each is a function of its dependencies; `createEngine` binds them.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import {
  StagecraftError,
  digestHex,
  familiarImageRef,
  formatImageRef,
  formatPlatform,
  imageRefName,
  isDigest,
  parseImageRef,
  sha256Digest,
  type Digest,
  type ImageRef,
  type Platform,
} from '../core/index.js';
import { STATE_ROOT_LOCK, StoreLocks } from '../cache/index.js';
import { nullSink, type EventSink } from '../events/index.js';
import type { Content, ImageReference } from '../content/index.js';
import { DEFAULT_EXPORT_COMPRESSION, compressForExport, readStoredImage, replaceManifestLayers, unpackedLayerSize, type StoredImage } from '../image/index.js';
import { IN_TOTO_MEDIA_TYPE, assembleAttestedIndex, attestationManifestsOf, fallbackTag, isSignatureTag, legacySignatureTag, pushSignatures, type InTotoStatement } from '../attest/index.js';
import { MEDIA_TYPES, descriptorSchema, isImageManifestMediaType, parseImageConfig, platformFromOci, type Descriptor, type ImageLayer } from '../oci/index.js';
import { z } from 'zod';
import type { RegistryClient } from '../registry/index.js';
import { chainId, openSnapshotter, type ImmutableSnapshot } from '../snapshot/index.js';

export interface ImageDeps {
  readonly content: () => Promise<Content>;
  readonly registry: RegistryClient;
  /** Where pulled images' layers are unpacked (the state root's snapshots). */
  readonly snapshotRoot: string;
  /** The platform pulled when none is asked for. */
  readonly defaultPlatform: Platform;
}

export interface PullOptions {
  readonly platform?: Platform | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Where blob transfers (`transfer.*`) and retried requests (`registry.retry`) are reported. */
  readonly events?: EventSink | undefined;
}

export interface PullResult {
  /** The full normalised name that now points at the image. */
  readonly name: string;
  readonly digest: Digest;
  readonly indexDigest?: Digest | undefined;
  readonly platform: string;
  /** Bytes downloaded (blobs already present are not counted). */
  readonly downloadedBytes: number;
}

export interface PushOptions {
  readonly signal?: AbortSignal | undefined;
  /** Where blob transfers (`transfer.*`) and retried requests (`registry.retry`) are reported. */
  readonly events?: EventSink | undefined;
}

export interface PushResult {
  readonly name: string;
  readonly digest: Digest;
  readonly size: number;
  /** The signature tags pushed with the image (`sha256-<hex>` fallback indexes, legacy `.sig`). */
  readonly signatures?: readonly string[] | undefined;
}

export interface ImageSummary {
  readonly name: string;
  /** Docker's short form: `busybox:latest`. */
  readonly familiarName: string;
  readonly digest: Digest;
  readonly indexDigest?: Digest | undefined;
  /** The config digest (Docker's image ID). */
  readonly id: Digest;
  readonly platform: string | undefined;
  /** The unpacked size: the sum of the layers' uncompressed tar sizes, as `docker images` shows. */
  readonly size: number;
  /** Manifest + config + layers as stored (plain tar for a local-only build, else compressed), in bytes. */
  readonly storedSize: number;
  /** The image config's `created`, if any. */
  readonly created: string | undefined;
  /** When the name was set to this image (ISO 8601). */
  readonly taggedAt: string;
}

export interface LayerInfo {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly diffId: Digest;
}

export interface ImageInspect extends ImageSummary {
  readonly mediaType: string;
  readonly manifest: unknown;
  readonly config: { readonly digest: Digest; readonly mediaType: string; readonly size: number; readonly value: unknown };
  readonly layers: readonly LayerInfo[];
}

/** The name stored for a user's reference: `busybox` → `docker.io/library/busybox:latest`. */
export function normaliseName(text: string): string {
  return formatImageRef(parseImageRef(text));
}

/**
 * Finds a local image by name (`busybox`, `localhost:5000/a:1`, `a@sha256:…`) or by the digest of
 * its manifest or config (`sha256:…`, or a unique hex prefix of at least 12 digits). NOT_FOUND lists
 * what exists when nothing matches.
 */
export async function findImage(content: Content, text: string): Promise<ImageReference> {
  const all = content.references.list();
  if (!text.startsWith('sha256:')) {
    // A name wins over an ID prefix, as in docker: `abcdef123456` may be a repository.
    let name: string | undefined;
    try {
      name = normaliseName(text);
    } catch (error) {
      if (!/^[a-f0-9]{12,64}$/.test(text)) throw error;
    }
    const ref = name === undefined ? undefined : content.references.get(name);
    if (ref !== undefined) return ref;
  }
  const hex = text.startsWith('sha256:') ? text.slice(7) : /^[a-f0-9]{12,64}$/.test(text) ? text : undefined;
  if (hex !== undefined) {
    for (const ref of all) {
      if (ref.digest.slice(7).startsWith(hex)) return ref;
    }
    // The index a built image's name stands for (its attestations), as push and --metadata-file show it.
    for (const ref of all) {
      if (ref.indexDigest?.slice(7).startsWith(hex) === true && content.references.completeIndex(ref) !== undefined) return ref;
    }
    for (const ref of all) {
      const stored = await readStoredImage(content, ref).catch(() => undefined);
      if (stored?.manifest.config.digest.slice(7).startsWith(hex) === true) return ref;
    }
  }
  throw new StagecraftError('NOT_FOUND', `no image ${JSON.stringify(text)} in the local store`, {
    hint: all.length === 0 ? 'the store is empty: pull or load an image first' : 'run `stagecraft images` to see the local images, or pull it first',
  });
}

function tryNormalise(text: string): string | undefined {
  try {
    return normaliseName(text);
  } catch {
    return undefined;
  }
}

function platformOf(descriptor: Descriptor, configBytes: Uint8Array): string {
  if (descriptor.platform !== undefined) return formatPlatform(platformFromOci(descriptor.platform));
  const config = parseImageConfig(configBytes);
  return formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
}

/**
 * Runs every task, aborting the rest at the first failure; returns after all have settled. Throws the
 * first failure: the tasks it aborted reject with abort errors ("The operation was aborted") that say
 * nothing of the cause, whatever their position in `tasks`.
 */
async function allOrAbort(signal: AbortSignal | undefined, tasks: readonly ((signal: AbortSignal) => Promise<void>)[]): Promise<void> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const results = await Promise.allSettled(tasks.map(async (task) => {
      try {
        await task(controller.signal);
      } catch (error) {
        controller.abort(error);
        throw error;
      }
    }));
    signal?.throwIfAborted();
    if (controller.signal.aborted) throw controller.signal.reason;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

export async function pull(deps: ImageDeps, text: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseImageRef(text);
  const name = formatImageRef(ref);
  const content = await deps.content();
  const platform = options.platform ?? deps.defaultPlatform;
  const events = options.events ?? nullSink;
  const registry = deps.registry.withEvents(events);
  const lease = content.leases.create({ label: `pull ${name}` });
  try {
    const resolved = await registry.resolve(ref, { platform, signal: options.signal });
    if (resolved.index !== undefined) await content.blobs.put(resolved.index.bytes, { digest: resolved.index.descriptor.digest, lease, signal: options.signal });
    const manifest = resolved.manifest;
    let downloaded = 0;
    const blobs: { descriptor: Descriptor; kind: 'config' | 'layer' }[] = [
      { descriptor: manifest.config, kind: 'config' },
      ...manifest.layers.map((descriptor) => ({ descriptor, kind: 'layer' as const })),
    ];
    const source = `${ref.domain}/${ref.path}`;
    await allOrAbort(options.signal, blobs.map(({ descriptor, kind }) => async (signal) => {
      if (content.blobs.touch(descriptor.digest, lease)) {
        const time = Date.now();
        events.emit({ type: 'transfer.completed', time, direction: 'pull', ref: source, digest: descriptor.digest, kind, outcome: 'exists', bytes: 0, total: descriptor.size, durationMs: 0 });
        return;
      }
      // The client reports the download (started, progress, completed once verified).
      const stream: Readable = await registry.fetchBlob(ref, descriptor, { signal });
      let last = 0;
      await content.blobs.ingest(stream, {
        digest: descriptor.digest,
        size: descriptor.size,
        lease,
        signal,
        onProgress: (bytes) => {
          downloaded += bytes - last;
          last = bytes;
        },
      });
    }));
    const configBytes = await content.blobs.read(manifest.config.digest);
    const config = parseImageConfig(configBytes, { source: name });
    if (config.rootfs.diff_ids.length !== manifest.layers.length) {
      throw new StagecraftError('INVALID_MANIFEST', `${name}: the manifest has ${manifest.layers.length} layers but the config lists ${config.rootfs.diff_ids.length} diff_ids`);
    }
    const stored = await content.blobs.put(resolved.bytes, { digest: resolved.descriptor.digest, lease, signal: options.signal });
    const indexDigest = resolved.index?.descriptor.digest;
    const platformText = platformOf(resolved.descriptor, configBytes);
    // Unpacked now, as `docker pull` does, so that builds from it start at once (and `prune --all`
    // keeps these layers while the image is tagged).
    // Held shared like a build's, so a `prune --all` never removes the layers between their unpacking
    // and the tag that keeps them.
    const held = await new StoreLocks(content.blobs.db).acquire(STATE_ROOT_LOCK, 'shared', options.signal);
    try {
      await unpackLayers(deps.snapshotRoot, manifest.layers, config.rootfs.diff_ids, content, options.signal);
      content.references.set(name, { digest: stored.digest, mediaType: resolved.descriptor.mediaType, size: stored.size, platform: platformText, indexDigest });
    } finally {
      held.release();
    }
    return { name, digest: stored.digest, ...(indexDigest === undefined ? {} : { indexDigest }), platform: platformText, downloadedBytes: downloaded };
  } finally {
    lease.release();
  }
}

async function unpackLayers(root: string, layers: readonly Descriptor[], diffIds: readonly Digest[], content: Content, signal: AbortSignal | undefined): Promise<void> {
  const snapshotter = await openSnapshotter(root);
  let parent: ImmutableSnapshot | null = null;
  let chain: Digest | null = null;
  for (const [i, layer] of layers.entries()) {
    const diffId = diffIds[i];
    if (diffId === undefined) break;
    chain = chainId(chain, diffId);
    parent = (await snapshotter.getByChainId(chain)) ?? (await snapshotter.applyLayer(parent, await content.blobs.open(layer.digest), diffId, signal === undefined ? {} : { signal }));
  }
}

export async function push(deps: ImageDeps, localText: string, remoteText: string | undefined, options: PushOptions = {}): Promise<PushResult> {
  const content = await deps.content();
  const local = await findImage(content, localText);
  const target: ImageRef = parseImageRef(remoteText ?? local.name);
  const registry = deps.registry.withEvents(options.events ?? nullSink);
  const platformIndex = await multiPlatformIndex(content, local);
  if (platformIndex !== undefined) return pushPlatformIndex(content, registry, local, target, platformIndex, options.signal);
  const stored = await readStoredImage(content, local);
  const source = parseImageRef(local.name);
  const mountFrom = source.domain === target.domain && source.path !== target.path ? source : undefined;
  const { exportLayers, manifest } = await exportManifest(content, stored, options.signal);
  const blobs: { descriptor: Descriptor; kind: 'config' | 'layer' }[] = [
    ...exportLayers.map((layer, i) => ({ descriptor: { ...stored.layers[i], mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, kind: 'layer' as const })),
    { descriptor: stored.manifest.config, kind: 'config' },
  ];
  // One request first: it checks the credentials before any upload, and lets the client learn the
  // registry's auth challenge before the blob uploads run in parallel.
  await registry.ping(target.domain, { signal: options.signal });
  // The client reports each blob (started, progress, and done, exists or mounted).
  await allOrAbort(options.signal, blobs.map(({ descriptor }) => async (signal) => {
    await registry.pushBlob(target, descriptor, () => createReadStream(content.blobs.blobPath(descriptor.digest)), { signal, mountFrom });
  }));
  const reference = target.digest ?? target.tag ?? 'latest';
  if (target.digest !== undefined && target.digest !== manifest.digest) {
    throw new StagecraftError('USAGE', `cannot push ${local.name} (${manifest.digest}) as ${formatImageRef(target)}: the digest differs`, {
      hint: 'push to a tag, or to the image\'s own digest (as pushed, with compressed layers)',
    });
  }
  const index = content.references.completeIndex(local);
  if (index === undefined) {
    const pushed = await registry.putManifest(target, reference, stored.manifestDescriptor.mediaType, manifest.bytes, { signal: options.signal });
    const signatures = await pushSignatures(content, registry, local.name, target, [manifest.digest], options.signal);
    return { name: formatImageRef(target), digest: pushed.digest, size: pushed.size, ...(signatures.length === 0 ? {} : { signatures }) };
  }
  // A built image with attestations: the image manifest and the attestation manifest by digest, then
  // the index under the tag (attestation-storage.md). Layers compressed for this push make a new image
  // manifest: the attestations are re-made for it (same predicates, the new subject digest).
  const attested = await attestedIndexFor(content, index, { mediaType: stored.manifestDescriptor.mediaType, digest: manifest.digest, size: manifest.bytes.length }, local.digest, options.signal);
  await registry.putManifest(target, manifest.digest, stored.manifestDescriptor.mediaType, manifest.bytes, { signal: options.signal });
  await allOrAbort(options.signal, attested.attestationBlobs.map((descriptor) => async (signal) => {
    await registry.pushBlob(target, descriptor, () => createReadStream(content.blobs.blobPath(descriptor.digest)), { signal });
  }));
  for (const m of attested.attestationManifests) await registry.putManifest(target, m.descriptor.digest, m.descriptor.mediaType, m.bytes, { signal: options.signal });
  if (target.digest !== undefined && target.digest !== attested.index.digest) {
    throw new StagecraftError('USAGE', `cannot push ${local.name} (${attested.index.digest}) as ${formatImageRef(target)}: the digest differs`, { hint: 'push to a tag, or to the index digest' });
  }
  const pushed = await registry.putManifest(target, target.digest ?? target.tag ?? 'latest', attested.index.mediaType, attested.index.bytes, { signal: options.signal });
  // The signatures the store holds for what was pushed (the manifest and the index), as referrers.
  const signatures = await pushSignatures(content, registry, local.name, target, [manifest.digest, attested.index.digest], options.signal);
  return { name: formatImageRef(target), digest: pushed.digest, size: pushed.size, ...(signatures.length === 0 ? {} : { signatures }) };
}

/** The index a name records when it lists several image manifests (a multi-platform build), with its bytes. */
async function multiPlatformIndex(content: Content, local: ImageReference): Promise<{ readonly mediaType: string; readonly digest: Digest; readonly bytes: Buffer; readonly manifests: readonly Descriptor[] } | undefined> {
  const index = content.references.completeIndex(local);
  if (index === undefined) return undefined;
  const bytes = await content.blobs.read(index.digest);
  const manifests = anyIndexSchema.parse(JSON.parse(bytes.toString('utf8'))).manifests;
  const images = manifests.filter((m) => isImageManifestMediaType(m.mediaType) && attestationManifestsOf([m]).length === 0);
  return images.length > 1 ? { mediaType: index.mediaType, digest: index.digest, bytes, manifests } : undefined;
}

/**
 * Pushes a multi-platform index as it is stored: every manifest's blobs, each manifest by digest, then
 * the index under the tag. Its layers are pushed in the form the build stored them (a build with
 * --push or -o type=oci stores them compressed; a local-only build's plain tar layers are valid OCI
 * layers too, only bigger).
 */
async function pushPlatformIndex(content: Content, registry: RegistryClient, local: ImageReference, target: ImageRef, index: { readonly mediaType: string; readonly digest: Digest; readonly bytes: Buffer; readonly manifests: readonly Descriptor[] }, signal: AbortSignal | undefined): Promise<PushResult> {
  if (target.digest !== undefined && target.digest !== index.digest) {
    throw new StagecraftError('USAGE', `cannot push ${local.name} (${index.digest}) as ${formatImageRef(target)}: the digest differs`, { hint: 'push to a tag, or to the index digest' });
  }
  await registry.ping(target.domain, { signal });
  for (const entry of index.manifests) {
    const bytes = await content.blobs.read(entry.digest);
    const manifest = anyManifestSchema.parse(JSON.parse(bytes.toString('utf8')));
    await allOrAbort(signal, [manifest.config, ...manifest.layers].map((descriptor) => async (blobSignal) => {
      await registry.pushBlob(target, descriptor, () => createReadStream(content.blobs.blobPath(descriptor.digest)), { signal: blobSignal });
    }));
    await registry.putManifest(target, entry.digest, entry.mediaType, bytes, { signal });
  }
  const pushed = await registry.putManifest(target, target.digest ?? target.tag ?? 'latest', index.mediaType, index.bytes, { signal });
  return { name: formatImageRef(target), digest: pushed.digest, size: pushed.size };
}

/**
 * The manifest push sends: a local-only build keeps plain tar layers, compressed here (once; recorded
 * in the store) for the registry, as `docker push` does, in a manifest that lists the compressed layers.
 */
async function exportManifest(content: Content, stored: StoredImage, signal: AbortSignal | undefined): Promise<{ exportLayers: ImageLayer[]; manifest: { bytes: Buffer; digest: Digest } }> {
  const exportLayers: ImageLayer[] = [];
  for (const [i, layer] of stored.layers.entries()) {
    const plain = { diffId: stored.config.rootfs.diff_ids[i] as Digest, digest: layer.digest, size: layer.size, mediaType: layer.mediaType };
    exportLayers.push(await compressForExport(content.blobs, plain, DEFAULT_EXPORT_COMPRESSION, signal));
  }
  const changed = exportLayers.some((layer, i) => layer.digest !== stored.layers[i]?.digest);
  const manifest = changed ? replaceManifestLayers(stored.manifestBytes, exportLayers) : { bytes: Buffer.from(stored.manifestBytes), digest: stored.manifestDescriptor.digest };
  return { exportLayers, manifest };
}

/**
 * Points every name of a local image at the form `push` sends (compressed layers; attestations re-made
 * for that manifest), so that what is signed locally is what a registry receives. Returns the image's
 * reference afterwards (unchanged when the image already is in that form).
 */
export async function toPushableForm(content: Content, local: ImageReference, signal?: AbortSignal): Promise<ImageReference> {
  const stored = await readStoredImage(content, local);
  const { manifest } = await exportManifest(content, stored, signal);
  if (manifest.digest === local.digest) return local;
  await content.blobs.put(manifest.bytes, { digest: manifest.digest, signal });
  const target = { mediaType: stored.manifestDescriptor.mediaType, digest: manifest.digest, size: manifest.bytes.length };
  const index = content.references.completeIndex(local);
  const attested = index === undefined ? undefined : await attestedIndexFor(content, index, target, local.digest, signal);
  for (const ref of content.references.byDigest(local.digest)) {
    if (ref.digest !== local.digest) continue;
    content.references.set(ref.name, { ...target, platform: ref.platform, indexDigest: attested?.index.digest });
  }
  return content.references.get(local.name) ?? local;
}

interface PushableIndex {
  readonly index: { readonly mediaType: string; readonly digest: Digest; readonly bytes: Buffer };
  readonly attestationManifests: readonly { readonly descriptor: Descriptor; readonly bytes: Buffer }[];
  /** Blobs of the attestation manifests (configs, statements). */
  readonly attestationBlobs: readonly Descriptor[];
}

/**
 * The index to push for `manifest`: the stored one when the manifest is unchanged; else one whose
 * attestation manifests and statements name the new manifest (stored too, so the blobs can be read).
 */
async function attestedIndexFor(content: Content, stored: { readonly mediaType: string; readonly digest: Digest }, manifest: { readonly mediaType: string; readonly digest: Digest; readonly size: number }, oldDigest: Digest, signal: AbortSignal | undefined): Promise<PushableIndex> {
  const indexBytes = await content.blobs.read(stored.digest);
  const index = anyIndexSchema.parse(JSON.parse(indexBytes.toString('utf8')));
  const entries = attestationManifestsOf(index.manifests).filter((a) => a.refersTo === oldDigest);
  const read = async (descriptor: Descriptor): Promise<{ descriptor: Descriptor; bytes: Buffer; manifest: z.infer<typeof anyManifestSchema> }> => {
    const bytes = await content.blobs.read(descriptor.digest);
    return { descriptor, bytes, manifest: anyManifestSchema.parse(JSON.parse(bytes.toString('utf8'))) };
  };
  const attestations = await Promise.all(entries.map((e) => read(e.descriptor)));
  if (manifest.digest === oldDigest) {
    return {
      index: { mediaType: stored.mediaType, digest: stored.digest, bytes: indexBytes },
      attestationManifests: attestations.map(({ descriptor, bytes }) => ({ descriptor, bytes })),
      attestationBlobs: attestations.flatMap(({ manifest: m }) => [m.config, ...m.layers]),
    };
  }
  const image = index.manifests.find((m) => m.digest === oldDigest);
  const statements: InTotoStatement[] = [];
  for (const { manifest: m } of attestations) {
    for (const layer of m.layers) {
      if (layer.mediaType !== IN_TOTO_MEDIA_TYPE) continue;
      const statement = inTotoStatementSchema.parse(JSON.parse((await content.blobs.read(layer.digest)).toString('utf8')));
      statements.push({
        ...statement,
        _type: 'https://in-toto.io/Statement/v1',
        subject: statement.subject.map((s) => (s.digest.sha256 === digestHex(oldDigest) ? { ...s, digest: { ...s.digest, sha256: digestHex(manifest.digest) } } : s)),
      });
    }
  }
  const platform = image?.platform ?? { os: 'unknown', architecture: 'unknown' };
  const assembled = assembleAttestedIndex({
    image: { ...manifest, ...(image?.annotations === undefined ? {} : { annotations: image.annotations }) },
    platform: { os: platform.os, architecture: platform.architecture, variant: platform.variant },
    statements,
    docker: stored.mediaType === MEDIA_TYPES.dockerManifestList,
  });
  for (const b of assembled.blobs) await content.blobs.put(b.bytes, { digest: b.digest, signal });
  const bytesOf = (digest: Digest): Buffer => assembled.blobs.find((b) => b.digest === digest)?.bytes ?? Buffer.alloc(0);
  const attestationManifest = anyManifestSchema.parse(JSON.parse(bytesOf(assembled.attestationManifest.digest).toString('utf8')));
  return {
    index: { mediaType: assembled.index.mediaType, digest: assembled.index.digest, bytes: bytesOf(assembled.index.digest) },
    attestationManifests: [{ descriptor: assembled.attestationManifest, bytes: bytesOf(assembled.attestationManifest.digest) }],
    attestationBlobs: [attestationManifest.config, ...attestationManifest.layers],
  };
}

/** An OCI index or Docker manifest list (its own media type was checked when it was stored). */
const anyIndexSchema = z.object({ manifests: z.array(descriptorSchema) });
/** An OCI or Docker image manifest, as far as pushing its blobs goes. */
const anyManifestSchema = z.object({ config: descriptorSchema, layers: z.array(descriptorSchema) });
const inTotoStatementSchema = z.looseObject({
  _type: z.string(),
  subject: z.array(z.object({ name: z.string(), digest: z.record(z.string(), z.string()) })),
  predicateType: z.string(),
  predicate: z.unknown(),
});

function imageSize(stored: StoredImage): number {
  return stored.manifestDescriptor.size + stored.manifest.config.size + stored.layers.reduce((sum, layer) => sum + layer.size, 0);
}

async function unpackedSize(content: Content, stored: StoredImage, signal?: AbortSignal): Promise<number> {
  let total = 0;
  for (const [i, layer] of stored.layers.entries()) {
    const diffId = stored.config.rootfs.diff_ids[i];
    // A listing shows what it can: a layer that cannot be read (missing or damaged blob) counts
    // with its stored size, and `inspect`/`history` or a build report the damage itself.
    total += diffId === undefined ? layer.size : await unpackedLayerSize(content, layer, diffId, signal).catch(() => layer.size);
  }
  return total;
}

async function summary(content: Content, ref: ImageReference, stored: StoredImage): Promise<ImageSummary> {
  return {
    name: ref.name,
    familiarName: familiarImageRef(parseImageRef(ref.name, { defaultTag: false })),
    digest: ref.digest,
    ...(ref.indexDigest === undefined ? {} : { indexDigest: ref.indexDigest }),
    id: stored.manifest.config.digest,
    platform: ref.platform ?? formatPlatform({ os: stored.config.os, architecture: stored.config.architecture, variant: stored.config.variant }),
    size: await unpackedSize(content, stored),
    storedSize: imageSize(stored),
    created: stored.config.created,
    taggedAt: new Date(ref.createdAt).toISOString(),
  };
}

export async function images(deps: ImageDeps): Promise<ImageSummary[]> {
  const content = await deps.content();
  const out: ImageSummary[] = [];
  for (const ref of content.references.list()) {
    // Signatures are named as in a registry (`repo:sha256-<hex>`), but are not images.
    if (isSignatureTag(parseImageRef(ref.name).tag)) continue;
    out.push(await summary(content, ref, await readStoredImage(content, ref)));
  }
  return out;
}

export async function inspect(deps: ImageDeps, text: string): Promise<ImageInspect> {
  const content = await deps.content();
  const ref = await findImage(content, text);
  const stored = await readStoredImage(content, ref);
  return {
    ...(await summary(content, ref, stored)),
    mediaType: ref.mediaType,
    manifest: JSON.parse(Buffer.from(stored.manifestBytes).toString('utf8')) as unknown,
    config: { digest: stored.manifest.config.digest, mediaType: stored.manifest.config.mediaType, size: stored.manifest.config.size, value: stored.config },
    layers: stored.layers.map((layer, i) => ({
      digest: layer.digest,
      mediaType: layer.mediaType,
      size: layer.size,
      diffId: stored.config.rootfs.diff_ids[i] ?? sha256Digest(''),
    })),
  };
}

export async function tag(deps: ImageDeps, sourceText: string, targetText: string): Promise<ImageReference> {
  const content = await deps.content();
  const source = await findImage(content, sourceText);
  const target = parseImageRef(targetText);
  if (target.digest !== undefined && target.digest !== source.digest) {
    throw new StagecraftError('USAGE', `cannot tag ${source.name} as ${targetText}: the target names a different digest`, { hint: 'tag with a name and tag, not a digest' });
  }
  return content.references.set(formatImageRef(target), {
    digest: source.digest,
    mediaType: source.mediaType,
    size: source.size,
    platform: source.platform,
    indexDigest: source.indexDigest,
  });
}

export interface RemoveResult {
  /** Names removed. */
  readonly untagged: readonly string[];
}

/**
 * Removes names. A digest or image ID removes every name of that image. Content is freed by GC once
 * unreferenced and past the grace period.
 */
export async function rmi(deps: ImageDeps, texts: readonly string[]): Promise<RemoveResult> {
  const content = await deps.content();
  const untagged: string[] = [];
  const targets: ImageReference[][] = [];
  for (const text of texts) {
    const found = await findImage(content, text);
    // Found by digest or ID (not by its own name): every name of that image goes.
    const byId = isDigest(text) || (/^[a-f0-9]{12,64}$/.test(text) && content.references.get(found.name) !== undefined && found.name !== tryNormalise(text));
    targets.push(byId ? content.references.byDigest(found.digest).filter((r) => r.digest === found.digest) : [found]);
  }
  const removed: ImageReference[] = [];
  for (const refs of targets) {
    for (const ref of refs) {
      if (content.references.delete(ref.name)) {
        untagged.push(ref.name);
        removed.push(ref);
      }
    }
  }
  // The signatures of an image (`repo:sha256-<hex>`, `.sig`) go with the last name of the repository that names it.
  for (const ref of removed) {
    const repository = imageRefName(parseImageRef(ref.name));
    for (const digest of [ref.digest, ref.indexDigest]) {
      if (digest === undefined) continue;
      const stillNamed = content.references.byDigest(digest).some((r) => imageRefName(parseImageRef(r.name)) === repository && !isSignatureTag(parseImageRef(r.name).tag));
      if (stillNamed) continue;
      for (const tag of [fallbackTag(digest), legacySignatureTag(digest)]) {
        const name = `${repository}:${tag}`;
        if (content.references.delete(name)) untagged.push(name);
      }
    }
  }
  return { untagged };
}

/** One row of `image history`: a history entry of the config, with the layer it made (if any). */
export interface HistoryEntry {
  /** The image ID (config digest) on the newest entry, as docker shows it; undefined on the others. */
  readonly id: Digest | undefined;
  readonly created: string | undefined;
  readonly createdBy: string;
  readonly comment: string;
  /** True when the step made no layer (ENV, CMD, …). */
  readonly emptyLayer: boolean;
  /** The layer's diff ID, when the step made one. */
  readonly diffId: Digest | undefined;
  /** The layer's unpacked size in bytes (0 for an empty layer). */
  readonly size: number;
}

/**
 * The history of a local image, newest first (as `docker history`): each config history entry with
 * the layer it made, matched in order with the non-empty entries. An image whose config has fewer
 * history entries than layers gets one entry per unexplained layer, with no instruction.
 */
export async function history(deps: ImageDeps, text: string, signal?: AbortSignal): Promise<HistoryEntry[]> {
  const content = await deps.content();
  const stored = await readStoredImage(content, await findImage(content, text));
  const diffIds = stored.config.rootfs.diff_ids;
  const entries = stored.config.history ?? [];
  const rows: Omit<HistoryEntry, 'id'>[] = [];
  let layer = 0;
  const layerRow = async (base: { created: string | undefined; createdBy: string; comment: string }): Promise<Omit<HistoryEntry, 'id'>> => {
    const descriptor = stored.layers[layer];
    const diffId = diffIds[layer];
    layer++;
    const size = descriptor === undefined || diffId === undefined ? 0 : await unpackedLayerSize(content, descriptor, diffId, signal);
    return { ...base, emptyLayer: false, diffId, size };
  };
  for (const entry of entries) {
    const base = { created: entry.created, createdBy: entry.created_by ?? '', comment: entry.comment ?? '' };
    if (entry.empty_layer === true || layer >= diffIds.length) rows.push({ ...base, emptyLayer: true, diffId: undefined, size: 0 });
    else rows.push(await layerRow(base));
  }
  while (layer < diffIds.length) rows.push(await layerRow({ created: undefined, createdBy: '', comment: '' }));
  return rows.reverse().map((row, i) => ({ id: i === 0 ? stored.manifest.config.digest : undefined, ...row }));
}

/** A manifest or index read from a registry by `inspect` (the ref is not in the local store). */
export interface RemoteInspect {
  readonly source: 'registry';
  readonly name: string;
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  /** The manifest's bytes exactly as the registry served them (what `--raw` prints). */
  readonly raw: Uint8Array;
  /** An index: its manifests with their platforms. */
  readonly manifests?: readonly { readonly name: string; readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly platform: string | undefined }[] | undefined;
  /** An image manifest: its config (the image ID) and layers. */
  readonly config?: Descriptor | undefined;
  readonly layers?: readonly Descriptor[] | undefined;
}

export interface LocalInspect extends ImageInspect {
  readonly source: 'local';
  readonly raw: Uint8Array;
}

export interface InspectOptions {
  readonly signal?: AbortSignal | undefined;
}

/**
 * A local image (by name, digest or ID), else — when `text` is an image reference the store does
 * not hold — its manifest or index from the registry, as `buildx imagetools inspect`.
 */
export async function inspectAny(deps: ImageDeps, text: string, options: InspectOptions = {}): Promise<LocalInspect | RemoteInspect> {
  const content = await deps.content();
  let local: ImageReference;
  try {
    local = await findImage(content, text);
  } catch (error) {
    const ref = error instanceof StagecraftError && error.code === 'NOT_FOUND' && !text.startsWith('sha256:') ? tryParse(text) : undefined;
    if (ref === undefined) throw error;
    try {
      return await inspectRemote(deps, ref, options);
    } catch (remote) {
      if (!(remote instanceof StagecraftError)) throw remote;
      throw new StagecraftError(remote.code, `no image ${JSON.stringify(text)} in the local store, and its registry: ${remote.message}`, {
        hint: remote.code === 'NOT_FOUND' ? 'run `stagecraft images` to see the local images, or check the name and tag' : (remote.hint ?? 'check the name, or the registry'),
        cause: remote,
      });
    }
  }
  const stored = await readStoredImage(content, local);
  return { source: 'local', raw: stored.manifestBytes, ...(await inspect(deps, local.name)) };
}

function tryParse(text: string): ImageRef | undefined {
  try {
    return parseImageRef(text);
  } catch {
    return undefined;
  }
}

async function inspectRemote(deps: ImageDeps, ref: ImageRef, options: InspectOptions): Promise<RemoteInspect> {
  const name = formatImageRef(ref);
  const fetched = await deps.registry.fetchManifest(ref, ref.digest ?? ref.tag ?? 'latest', { signal: options.signal });
  const base = { source: 'registry' as const, name, digest: fetched.descriptor.digest, mediaType: fetched.descriptor.mediaType, size: fetched.descriptor.size, raw: fetched.bytes };
  if (fetched.parsed.kind === 'index') {
    const bare = imageRefName(ref);
    return {
      ...base,
      manifests: fetched.parsed.index.manifests.map((m) => ({
        name: `${bare}@${m.digest}`,
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.size,
        platform: m.platform === undefined ? undefined : formatPlatform(platformFromOci(m.platform)),
      })),
    };
  }
  return { ...base, config: fetched.parsed.manifest.config, layers: fetched.parsed.manifest.layers };
}

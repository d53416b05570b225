/**
 * Base images for a build: a reference resolved once per build (local store first unless `pull`,
 * then the registry) to its manifest digest, config and layer records. Layer blobs are not fetched
 * here: LayerStore pulls a blob only when a step really needs its files.
 */
import type { Content } from '../content/index.js';
import { StagecraftError, formatImageRef, formatPlatform, imageRefName, parseImageRef, platformEquals, withDigest, type Digest, type ImageRef, type Platform } from '../core/index.js';
import { parseImageConfig, parseManifest, platformFromOci, selectManifest, type ImageConfig } from '../oci/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { LayerRecord } from '../cache/index.js';

export interface BaseImage {
  /** Normalised name pinned to the manifest digest (`docker.io/library/busybox:latest@sha256:…`). */
  readonly pinned: string;
  readonly manifestDigest: Digest;
  readonly config: ImageConfig;
  readonly layers: readonly LayerRecord[];
}

export interface BaseImageOptions {
  readonly content: Content;
  readonly registry: RegistryClient;
  /** Always ask the registry (`--pull`); otherwise a local image of that name is used first. */
  readonly pull: boolean;
  /** Digests to use instead of resolving tags (a lockfile, or the materials of a provenance). */
  readonly pins?: BaseImagePins | undefined;
  /** Never contact a registry: every image must be in the store (`--offline`). */
  readonly offline?: boolean | undefined;
}

/**
 * Pinned base images. `lookup` gets the normalised name (`docker.io/library/busybox:latest`) of a
 * reference written without a digest; with `locked`, a name it does not know is an error (`missing`).
 */
export interface BaseImagePins {
  lookup(name: string, platform: Platform): { readonly digest: Digest; readonly manifest?: Digest | undefined } | undefined;
  readonly locked: boolean;
  missing(ref: string, platform: Platform): StagecraftError;
}

/** A base image this build resolved (for provenance): the name as asked and what it resolved to. */
export interface ResolvedBaseImage {
  /** As the Dockerfile (or a named context) wrote it. */
  readonly ref: string;
  readonly platform: Platform;
  /** What the name resolved to: the index digest of a multi-platform image, else the manifest's. */
  readonly digest: Digest;
  /** The platform's image manifest. */
  readonly manifestDigest: Digest;
}

export class BaseImages {
  readonly #cache = new Map<string, Promise<BaseImage>>();
  readonly #resolved = new Map<string, ResolvedBaseImage>();

  constructor(private readonly options: BaseImageOptions) {}

  resolve(text: string, platform: Platform, signal: AbortSignal): Promise<BaseImage> {
    const key = `${text}|${formatPlatform(platform)}`;
    let pending = this.#cache.get(key);
    if (pending === undefined) {
      pending = this.#resolve(text, platform, signal);
      this.#cache.set(key, pending);
      pending.then((base) => {
        const digest = parseImageRef(base.pinned).digest ?? base.manifestDigest;
        this.#resolved.set(key, { ref: text, platform, digest, manifestDigest: base.manifestDigest });
      }, () => undefined);
    }
    return pending;
  }

  /** Every image resolved so far (the base images' times and layers, for SOURCE_DATE_EPOCH). */
  async loaded(): Promise<BaseImage[]> {
    const all = await Promise.all([...this.#cache.values()].map((pending) => pending.catch(() => undefined)));
    return all.filter((image): image is BaseImage => image !== undefined);
  }

  /**
   * Every image resolved so far, once each: a reference the build pinned itself (the name a FROM
   * resolved to, `name:tag@<that digest>`) is the same image as the name it came from, not another.
   */
  resolved(): readonly ResolvedBaseImage[] {
    const all = [...this.#resolved.values()];
    const named = new Set(all.filter((r) => parseImageRef(r.ref).digest === undefined).map((r) => `${imageRefName(parseImageRef(r.ref))}@${r.digest}|${formatPlatform(r.platform)}`));
    return all.filter((r) => {
      const ref = parseImageRef(r.ref);
      return ref.digest === undefined || ref.tag === undefined || !named.has(`${imageRefName(ref)}@${r.digest}|${formatPlatform(r.platform)}`);
    });
  }

  async #resolve(text: string, platform: Platform, signal: AbortSignal): Promise<BaseImage> {
    let ref = parseImageRef(text);
    const { content, registry, pins } = this.options;
    let manifestPin: Digest | undefined;
    if (pins !== undefined && ref.digest === undefined) {
      const pin = pins.lookup(formatImageRef(ref), platform);
      if (pin !== undefined) {
        ref = withDigest(ref, pin.digest);
        manifestPin = pin.manifest;
      } else if (pins.locked) {
        throw pins.missing(text, platform);
      }
    }
    if (!this.options.pull || ref.digest !== undefined || this.options.offline === true) {
      // A pinned multi-platform image is held as its platform's manifest (the index is not stored).
      const local = (await this.#local(ref, platform)) ?? (manifestPin === undefined ? undefined : await this.#local(withDigest(ref, manifestPin), platform));
      if (local !== undefined) return local;
    }
    if (this.options.offline === true) {
      throw new StagecraftError('OFFLINE_MISSING', `image ${formatImageRef(ref)} (${formatPlatform(platform)}) is not in the local store, and --offline does not contact its registry`, {
        hint: 'build once online (or `stagecraft pull --platform ' + formatPlatform(platform) + ' ' + formatImageRef(ref) + '`) on this state root, then build --offline',
      });
    }
    const resolved = await registry.resolve(ref, { platform, signal }).catch((error: unknown) => {
      // As BuildKit: `failed to resolve source metadata for <ref>: <why>`, keeping the code (exit status) and hint.
      if (!(error instanceof StagecraftError) || error.code === 'ABORTED' || signal.aborted) throw error;
      throw new StagecraftError(error.code, `failed to resolve source metadata for ${formatImageRef(ref)}: ${error.message}`, { hint: error.hint, location: error.location, cause: error });
    });
    const manifest = resolved.manifest;
    const configBlob = await content.blobs.info(manifest.config.digest);
    if (configBlob === undefined) {
      await content.blobs.ingest(await registry.fetchBlob(ref, manifest.config, { signal }), { digest: manifest.config.digest, size: manifest.config.size, signal });
    }
    await content.blobs.put(resolved.bytes, { digest: resolved.descriptor.digest, signal });
    const config = parseImageConfig(await content.blobs.read(manifest.config.digest), { source: formatImageRef(ref) });
    return { pinned: formatImageRef(resolved.ref), manifestDigest: resolved.descriptor.digest, config, layers: layerRecords(manifest.layers, config, formatImageRef(ref)) };
  }

  async #local(ref: ImageRef, platform: Platform): Promise<BaseImage | undefined> {
    const { content } = this.options;
    // A reference pinned to a digest we hold (a base resolved earlier in this build) is read locally.
    const pinned = ref.digest !== undefined && (await content.blobs.has(ref.digest)) ? { name: formatImageRef(ref), digest: ref.digest, mediaType: undefined } : undefined;
    const entry = pinned ?? content.references.get(formatImageRef(ref));
    if (entry === undefined) return undefined;
    let parsed = parseManifest(await content.blobs.read(entry.digest), entry.mediaType);
    if (parsed.kind === 'index') {
      const chosen = selectManifest(parsed.index, platform, { source: entry.name });
      if (!(await content.blobs.has(chosen.digest))) return undefined;
      parsed = parseManifest(await content.blobs.read(chosen.digest), chosen.mediaType);
      if (parsed.kind !== 'manifest') return undefined;
    }
    const manifest = parsed.manifest;
    if (!(await content.blobs.has(manifest.config.digest))) return undefined;
    const config = parseImageConfig(await content.blobs.read(manifest.config.digest), { source: entry.name });
    if (!platformEquals(platformFromOci(config), platform)) return undefined;
    return { pinned: ref.digest !== undefined ? formatImageRef(ref) : `${formatImageRef(ref)}@${parsed.digest}`, manifestDigest: parsed.digest, config, layers: layerRecords(manifest.layers, config, formatImageRef(ref)) };
  }
}

function layerRecords(layers: readonly { digest: Digest; size: number; mediaType: string }[], config: ImageConfig, source: string): LayerRecord[] {
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layers.length) {
    throw new StagecraftError('INVALID_MANIFEST', `${source}: the manifest has ${layers.length} layers but the config lists ${diffIds.length} diff ids`, { hint: 'the image is malformed; rebuild or re-push it' });
  }
  return layers.map((layer, i) => ({ diffId: diffIds[i] as Digest, digest: layer.digest, size: layer.size, mediaType: layer.mediaType, source }));
}

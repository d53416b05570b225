/**
 * Layers ↔ snapshots: a stack of layer records becomes a committed snapshot (each layer unpacked once,
 * keyed by chain ID; missing base-image blobs fetched from their registry first), and a step's
 * mutable snapshot is committed as its result. Its layer (tar, diffID, blob) is lazy: made from the
 * committed snapshot only when something needs it (`resolve`: an image, an export, a cache export),
 * once, and recorded (BuildKit keys snapshots by cache key and diffs only exported layers).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobInfo, ContentStore } from '../content/index.js';
import { StagecraftError, isStagecraftError, type Digest } from '../core/index.js';
import { isLazyLayer, type ClampedLayers, type LayerRecord, type LazyLayer, type LazyLayers, type StepLayer } from '../cache/index.js';
import { MEDIA_TYPES } from '../oci/index.js';
import { DigestStream } from '../util/streams.js';
import { chainId, clampTarTimes, decompressLayer, type ImmutableSnapshot, type MountedRootfs, type MutableSnapshot, type Snapshotter } from '../snapshot/index.js';

export interface LayerStoreOptions {
  readonly snapshotter: Snapshotter;
  readonly blobs: ContentStore;
  /** Fetches a base-image layer blob into the content store (from `layer.source`). */
  readonly fetchBlob: (layer: LayerRecord, signal: AbortSignal) => Promise<void>;
  /** A directory for temporary mount points. */
  readonly runDir: string;
  /** Layers clamped to an epoch, by (diffID, epoch) (omitted: every clamp reads the layer again). */
  readonly clamped?: ClampedLayers | undefined;
  /** Layers made from lazy step results (omitted: made again each time they are needed). */
  readonly lazy?: LazyLayers | undefined;
  /** Seconds since the epoch, for the `created` time of a new layer. */
  readonly clock?: (() => number) | undefined;
}

/** An extraction error of a layer, with the layer's digest in front (apply itself does not know it). */
function namingLayer(error: unknown, digest: Digest): unknown {
  if (!isStagecraftError(error) || (error.code !== 'LAYER_INVALID' && error.code !== 'LAYER_UNSAFE') || error.message.includes(digest)) return error;
  return new StagecraftError(error.code, `layer ${digest}: ${error.message}`, { hint: error.hint, cause: error });
}

export class LayerStore {
  /** Lazy layers being made by this process, by snapshot id (each made once). */
  private readonly making = new Map<string, Promise<LayerRecord>>();
  /** Chain IDs of stacks `resolve` made → the lazy snapshot holding that stack. */
  private readonly madeChains = new Map<Digest, string>();
  /** DiffIDs of layers `resolve` made → the lazy snapshot that layer is the diff of. */
  private readonly madeFrom = new Map<Digest, string>();

  constructor(private readonly options: LayerStoreOptions) {}

  /**
   * The committed snapshot of a layer stack (null for no layers). A lazy layer's snapshot holds the
   * whole stack up to it; made layers above it are unpacked on it.
   */
  async materialize(layers: readonly StepLayer[], signal: AbortSignal): Promise<ImmutableSnapshot | null> {
    const { snapshotter, blobs } = this.options;
    // Chain IDs of the leading made layers (a lazy layer ends them: what is above is keyed by parent).
    const chains: Digest[] = [];
    let chain: Digest | null = null;
    for (const layer of layers) {
      if (isLazyLayer(layer)) break;
      chain = chainId(chain, layer.diffId);
      chains.push(chain);
    }
    // Find the deepest prefix that is already unpacked.
    let start = layers.length;
    let parent: ImmutableSnapshot | null = null;
    for (; start > 0; start--) {
      const layer = layers[start - 1];
      if (layer === undefined) break;
      const id = chains[start - 1];
      const found = isLazyLayer(layer) ? await snapshotter.get(layer.snapshot) : id === undefined ? null : await this.byChain(id);
      if (found !== null) {
        parent = found;
        break;
      }
    }
    for (let i = start; i < layers.length; i++) {
      const layer = layers[i];
      if (layer === undefined) continue;
      if (isLazyLayer(layer)) throw lazyGone(layer);
      await this.ensureBlob(layer, signal);
      try {
        parent = await snapshotter.applyLayer(parent, await blobs.open(layer.digest), layer.diffId, { signal });
      } catch (error) {
        throw namingLayer(error, layer.digest);
      }
    }
    return parent;
  }

  private async byChain(id: Digest): Promise<ImmutableSnapshot | null> {
    const found = await this.options.snapshotter.getByChainId(id);
    if (found !== null) return found;
    const lazy = this.madeChains.get(id);
    return lazy === undefined ? null : this.options.snapshotter.get(lazy);
  }

  /** Whether every lazy layer of a stack still has its snapshot (a cache record without is a miss). */
  async available(layers: readonly StepLayer[]): Promise<boolean> {
    for (const layer of layers) {
      if (!isLazyLayer(layer)) continue;
      // A damaged snapshot (its parent removed by hand) is as good as gone: the step runs again.
      const found = await this.options.snapshotter.get(layer.snapshot).catch((error: unknown) => {
        if (isStagecraftError(error) && error.code === 'STORE_CORRUPT') return null;
        throw error;
      });
      if (found === null) return false;
    }
    return true;
  }

  /**
   * The made layers of a stack: each lazy layer's tar, diffID and plain-tar blob are made from its
   * snapshot the first time (the same bytes its step would have stored), recorded, and found again
   * afterwards (made again, identically, if the blob was collected since).
   *
   * `blobs: false` (for an image whose made layers are all clamped to an epoch, so it never holds
   * them plain): a layer not made yet is only hashed, not stored; its record is kept and its blob
   * is made from the snapshot when something needs it (`ensureBlob`, verified against the digest).
   */
  async resolve(layers: readonly StepLayer[], signal: AbortSignal, options: { readonly blobs?: boolean } = {}): Promise<LayerRecord[]> {
    const blobs = options.blobs ?? true;
    const made = await Promise.all(layers.map(async (layer) => {
      if (!isLazyLayer(layer)) return layer;
      const created = layer.created === undefined ? {} : { created: layer.created };
      // Keyed by whether the blob is stored too: a hash-only make in flight does not satisfy a caller that needs the blob.
      const id = `${layer.snapshot}${blobs ? '' : ':hash'}`;
      let making = this.making.get(id);
      if (making === undefined) {
        making = this.make(layer, blobs, signal);
        this.making.set(id, making);
        making.catch(() => undefined).finally(() => this.making.delete(id)).catch(() => undefined);
      }
      return { ...(await making), ...created };
    }));
    // The made stack's snapshots are the lazy ones: a view of it (an export, a scan) needs no unpacking.
    let chain: Digest | null = null;
    for (const [i, layer] of made.entries()) {
      chain = chainId(chain, layer.diffId);
      const step = layers[i];
      if (step === undefined || !isLazyLayer(step)) continue;
      this.madeChains.set(chain, step.snapshot);
      this.madeFrom.set(layer.diffId, step.snapshot);
    }
    return made;
  }

  /** The stack as made layers from what `resolve` recorded, without making any; undefined if a layer was never made. */
  known(layers: readonly StepLayer[]): LayerRecord[] | undefined {
    const out: LayerRecord[] = [];
    for (const layer of layers) {
      const made = isLazyLayer(layer) ? this.options.lazy?.get(layer.snapshot) : layer;
      if (made === undefined) return undefined;
      out.push(made);
    }
    return out;
  }

  private async make(layer: LazyLayer, storeBlob: boolean, signal: AbortSignal): Promise<LayerRecord> {
    const { snapshotter, blobs, lazy } = this.options;
    const known = lazy?.get(layer.snapshot);
    if (known !== undefined && (await blobs.has(known.digest))) return known;
    const snapshot = await snapshotter.get(layer.snapshot);
    if (snapshot === null) throw lazyGone(layer);
    // Without its blob a record still serves a caller that needs none: the snapshot can make it.
    if (known !== undefined && !storeBlob) return known;
    const info = storeBlob ? await blobs.ingest(snapshotter.diffCommitted(snapshot, { signal }), { signal }) : await hashTar(snapshotter.diffCommitted(snapshot, { signal }), signal);
    const made: LayerRecord = { diffId: info.digest, digest: info.digest, size: info.size, mediaType: MEDIA_TYPES.ociLayer };
    lazy?.put(layer.snapshot, made);
    return made;
  }

  /**
   * Makes sure the layer's blob is in the store: a layer `resolve` made from a snapshot that is still
   * there is packed again from it (verified against its digest), a base-image layer is fetched from
   * its registry.
   */
  async ensureBlob(layer: LayerRecord, signal: AbortSignal): Promise<void> {
    const { snapshotter, blobs } = this.options;
    if (await blobs.has(layer.digest)) return;
    const snapshot = layer.digest === layer.diffId ? await this.madeSnapshot(layer.diffId) : null;
    if (snapshot !== null) {
      await blobs.ingest(snapshotter.diffCommitted(snapshot, { signal }), { digest: layer.digest, size: layer.size, signal });
      return;
    }
    await this.options.fetchBlob(layer, signal);
  }

  /** A read-only view of a layer stack at a fresh mount point (an empty directory for no layers). */
  async view(layers: readonly StepLayer[], signal: AbortSignal): Promise<MountedRootfs> {
    await mkdir(this.options.runDir, { recursive: true });
    const dir = await mkdtemp(join(this.options.runDir, 'view-'));
    const removeDir = async (): Promise<void> => {
      await rm(dir, { recursive: true, force: true });
    };
    try {
      const snapshot = await this.materialize(layers, signal);
      if (snapshot === null) return { path: dir, [Symbol.asyncDispose]: removeDir };
      const mounted = await this.options.snapshotter.view(snapshot, dir, signal);
      let released: Promise<void> | undefined;
      return {
        path: mounted.path,
        [Symbol.asyncDispose]: () => {
          released ??= (async () => {
            await mounted[Symbol.asyncDispose]();
            await removeDir();
          })();
          return released;
        },
      };
    } catch (error) {
      await removeDir();
      throw error;
    }
  }

  /**
   * Commits a step's mutable snapshot as its result: a lazy layer, whose tar, diffID and blob
   * `resolve` makes when something needs them (plain tar, compressed only when the layer leaves the
   * machine, as BuildKit keeps Docker's store uncompressed). A step that changed nothing still gets
   * its (empty) layer, as in BuildKit, so history and layers stay one-to-one.
   *
   * The layer keeps the files' own times (whole seconds): the build's SOURCE_DATE_EPOCH is applied
   * when an image is assembled (`clamp`), so a cached step serves builds of any epoch.
   */
  async commit(mutable: MutableSnapshot, signal: AbortSignal): Promise<LazyLayer> {
    const created = Math.floor((this.options.clock ?? Date.now)() / 1000);
    const snapshot = await mutable.commit(signal);
    return { snapshot: snapshot.id, created };
  }

  /**
   * The layer with every mtime later than `epoch` clamped to it (BuildKit's rewrite-timestamp): the
   * same digest when nothing was later, else a new plain-tar blob, remembered by (diffID, epoch). Only
   * for layers a build made: a base image's layers are never rewritten.
   *
   * A layer `resolve` made from a snapshot that is still there is packed again from it with the
   * clamp (the same bytes as rewriting its tar: `diffCommitted` with `sourceDateEpoch`), so its plain
   * blob is neither read back, re-hashed, nor parsed; other layers are rewritten from their blob.
   */
  async clamp(layer: LayerRecord, epoch: number, signal: AbortSignal): Promise<LayerRecord> {
    const { blobs, clamped } = this.options;
    const created = layer.created === undefined ? {} : { created: layer.created };
    const known = clamped?.get(layer.diffId, epoch);
    if (known !== undefined && (await blobs.has(known.digest))) return { ...known, ...created };
    const info = await blobs.ingest(await this.clampedTar(layer, epoch, signal), { signal });
    const out: LayerRecord = { diffId: info.digest, digest: info.digest, size: info.size, mediaType: MEDIA_TYPES.ociLayer };
    clamped?.put(layer.diffId, epoch, out);
    return { ...out, ...created };
  }

  /** The snapshot `resolve` made the layer with this diffID from, while it is still there. */
  private async madeSnapshot(diffId: Digest): Promise<ImmutableSnapshot | null> {
    const id = this.madeFrom.get(diffId);
    return id === undefined ? null : await this.options.snapshotter.get(id).catch(() => null);
  }

  /** The clamped tar of `layer`: from its snapshot when `resolve` made it from one still there, else from its blob. */
  private async clampedTar(layer: LayerRecord, epoch: number, signal: AbortSignal): Promise<Readable> {
    const { snapshotter, blobs } = this.options;
    const snapshot = await this.madeSnapshot(layer.diffId);
    if (snapshot !== null) return snapshotter.diffCommitted(snapshot, { sourceDateEpoch: epoch, signal });
    await this.ensureBlob(layer, signal);
    // A layer from an imported cache may be compressed: the clamped one is a plain tar like every local layer.
    const { tar } = await decompressLayer(await blobs.open(layer.digest));
    return clampTarTimes(tar, epoch, signal);
  }
}

/** The digest and size of a tar stream, stored nowhere. */
async function hashTar(tar: Readable, signal: AbortSignal): Promise<BlobInfo> {
  const digest = new DigestStream();
  await pipeline(tar, digest, new Writable({ write: (_chunk, _encoding, done) => done() }), { signal });
  return { digest: digest.digest(), size: digest.size };
}

/** A lazy layer whose snapshot was removed (by `prune --all` while this build ran, or by hand). */
function lazyGone(layer: LazyLayer): StagecraftError {
  return new StagecraftError('STORE_CORRUPT', `the snapshot ${layer.snapshot} of a cached step result is gone`, {
    hint: 'build again: the step runs again (a cache record whose snapshot is gone is a miss)',
  });
}

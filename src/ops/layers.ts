/**
 * Layers ↔ snapshots: a stack of layer records becomes a committed snapshot (each layer unpacked once,
 * keyed by chain ID; missing base-image blobs fetched from their registry first), and a mutable
 * snapshot's changes become a new layer blob in the content store.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContentStore } from '../content/index.js';
import { StagecraftError, isStagecraftError, type Digest } from '../core/index.js';
import type { ClampedLayers, LayerRecord } from '../cache/index.js';
import { MEDIA_TYPES } from '../oci/index.js';
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
  /** Seconds since the epoch, for the `created` time of a new layer. */
  readonly clock?: (() => number) | undefined;
}

/** An extraction error of a layer, with the layer's digest in front (apply itself does not know it). */
function namingLayer(error: unknown, digest: Digest): unknown {
  if (!isStagecraftError(error) || (error.code !== 'LAYER_INVALID' && error.code !== 'LAYER_UNSAFE') || error.message.includes(digest)) return error;
  return new StagecraftError(error.code, `layer ${digest}: ${error.message}`, { hint: error.hint, cause: error });
}

export class LayerStore {
  constructor(private readonly options: LayerStoreOptions) {}

  /** The committed snapshot of a layer stack (null for no layers). */
  async materialize(layers: readonly LayerRecord[], signal: AbortSignal): Promise<ImmutableSnapshot | null> {
    const { snapshotter, blobs } = this.options;
    // Find the deepest prefix that is already unpacked.
    const chains: Digest[] = [];
    let chain: Digest | null = null;
    for (const layer of layers) {
      chain = chainId(chain, layer.diffId);
      chains.push(chain);
    }
    let start = layers.length;
    let parent: ImmutableSnapshot | null = null;
    for (; start > 0; start--) {
      const id = chains[start - 1];
      if (id === undefined) break;
      const found = await snapshotter.getByChainId(id);
      if (found !== null) {
        parent = found;
        break;
      }
    }
    for (let i = start; i < layers.length; i++) {
      const layer = layers[i];
      if (layer === undefined) continue;
      await this.ensureBlob(layer, signal);
      try {
        parent = await snapshotter.applyLayer(parent, await blobs.open(layer.digest), layer.diffId, { signal });
      } catch (error) {
        throw namingLayer(error, layer.digest);
      }
    }
    return parent;
  }

  /** Makes sure the layer's blob is in the store (fetching a base-image layer from its registry). */
  async ensureBlob(layer: LayerRecord, signal: AbortSignal): Promise<void> {
    if (!(await this.options.blobs.has(layer.digest))) await this.options.fetchBlob(layer, signal);
  }

  /** A read-only view of a layer stack at a fresh mount point (an empty directory for no layers). */
  async view(layers: readonly LayerRecord[], signal: AbortSignal): Promise<MountedRootfs> {
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
   * Turns the changes of `mutable` into a layer blob, then commits the snapshot. The blob is the
   * plain tar (its digest is the diffID), streamed into the store in one pass: compression waits until
   * the layer leaves the machine (image/compress-layers.ts), as BuildKit keeps Docker's store
   * uncompressed. A step that changed nothing still gets its (empty) layer, as in BuildKit, so history
   * and layers stay one-to-one.
   *
   * The layer keeps the files' own times (whole seconds): the build's SOURCE_DATE_EPOCH is applied
   * when an image is assembled (`clamp`), so a cached step serves builds of any epoch.
   */
  async commit(mutable: MutableSnapshot, signal: AbortSignal): Promise<LayerRecord> {
    const { snapshotter, blobs } = this.options;
    const created = Math.floor((this.options.clock ?? Date.now)() / 1000);
    const tar = snapshotter.diff(mutable, { signal });
    const info = await blobs.ingest(tar, { signal });
    // Stored under the new layer's chain ID: the next step finds it unpacked.
    await mutable.commit(signal, info.digest);
    return { diffId: info.digest, digest: info.digest, size: info.size, mediaType: MEDIA_TYPES.ociLayer, created };
  }

  /**
   * The layer with every mtime later than `epoch` clamped to it (BuildKit's rewrite-timestamp): the
   * same digest when nothing was later, else a new plain-tar blob, remembered by (diffID, epoch). Only
   * for layers a build made: a base image's layers are never rewritten.
   */
  async clamp(layer: LayerRecord, epoch: number, signal: AbortSignal): Promise<LayerRecord> {
    const { blobs, clamped } = this.options;
    const created = layer.created === undefined ? {} : { created: layer.created };
    const known = clamped?.get(layer.diffId, epoch);
    if (known !== undefined && (await blobs.has(known.digest))) return { ...known, ...created };
    await this.ensureBlob(layer, signal);
    // A layer from an imported cache may be compressed: the clamped one is a plain tar like every local layer.
    const { tar } = await decompressLayer(await blobs.open(layer.digest));
    const info = await blobs.ingest(clampTarTimes(tar, epoch, signal), { signal });
    const out: LayerRecord = { diffId: info.digest, digest: info.digest, size: info.size, mediaType: MEDIA_TYPES.ociLayer };
    clamped?.put(layer.diffId, epoch, out);
    return { ...out, ...created };
  }
}

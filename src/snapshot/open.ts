/**
 * The snapshotter for a state root: overlayfs where the kernel allows it there, else the copy fallback.
 */
import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Digest } from '../core/index.js';
import { currentUserNamespace } from '../util/userns.js';
import { CopySnapshotter } from './copy.js';
import { OverlaySnapshotter, overlaySupported } from './overlay.js';
import type { ApplyLayerOptions, DiffOptions, ImmutableSnapshot, MountedRootfs, MutableSnapshot, Snapshotter } from './types.js';

export interface OpenSnapshotterOptions {
  /** Told when a rootless build falls back to copying (overlay in a user namespace failed). */
  readonly warn?: ((message: string) => void) | undefined;
}

/**
 * The check for overlayfs (a test mount and unmount: two processes) runs when a snapshot is first
 * needed, not when the snapshotter opens: a build whose steps are all cached mounts nothing.
 */
export async function openSnapshotter(root: string, options: OpenSnapshotterOptions = {}): Promise<Snapshotter> {
  await mkdir(root, { recursive: true });
  return new CheckedSnapshotter(root, options);
}

/** Chooses overlayfs or copy on first use, then passes every call to the one chosen. */
class CheckedSnapshotter implements Snapshotter {
  #chosen: Snapshotter | undefined;
  #choosing: Promise<Snapshotter> | undefined;

  constructor(
    private readonly root: string,
    private readonly options: OpenSnapshotterOptions,
  ) {}

  #choose(): Promise<Snapshotter> {
    this.#choosing ??= overlaySupported(this.root).then((overlay) => {
      if (!overlay && currentUserNamespace() !== undefined) {
        this.options.warn?.(`overlayfs cannot be mounted in this user namespace under ${this.root} (it needs Linux 5.11 or later, and a filesystem that allows it): snapshots are full copies, which is slower and takes more disk`);
      }
      this.#chosen = overlay ? new OverlaySnapshotter({ root: this.root }) : new CopySnapshotter({ root: this.root });
      return this.#chosen;
    });
    return this.#choosing;
  }

  /** The one chosen; the synchronous members are used only on snapshots the chosen one returned. */
  #known(): Snapshotter {
    if (this.#chosen === undefined) throw new Error('snapshotter: used synchronously before a snapshot was taken from it');
    return this.#chosen;
  }

  get name(): 'overlayfs' | 'copy' {
    return this.#known().name;
  }

  async prepare(parent: ImmutableSnapshot | null, key: string, signal?: AbortSignal): Promise<MutableSnapshot> {
    return (await this.#choose()).prepare(parent, key, signal);
  }

  async view(parent: ImmutableSnapshot, target?: string, signal?: AbortSignal): Promise<MountedRootfs> {
    return (await this.#choose()).view(parent, target, signal);
  }

  async applyLayer(parent: ImmutableSnapshot | null, layer: AsyncIterable<Uint8Array>, diffId: Digest, options?: ApplyLayerOptions): Promise<ImmutableSnapshot> {
    return (await this.#choose()).applyLayer(parent, layer, diffId, options);
  }

  async get(id: string): Promise<ImmutableSnapshot | null> {
    return (await this.#choose()).get(id);
  }

  async getByChainId(chainId: Digest): Promise<ImmutableSnapshot | null> {
    return (await this.#choose()).getByChainId(chainId);
  }

  layerDir(snapshot: ImmutableSnapshot): string | undefined {
    return this.#known().layerDir(snapshot);
  }

  diff(snapshot: MutableSnapshot, options?: DiffOptions): Readable {
    return this.#known().diff(snapshot, options);
  }

  diffCommitted(snapshot: ImmutableSnapshot, options?: DiffOptions): Readable {
    return this.#known().diffCommitted(snapshot, options);
  }

  async remove(snapshot: ImmutableSnapshot): Promise<void> {
    return (await this.#choose()).remove(snapshot);
  }

  /** Sweeping a killed build's leftovers is the same for both (BaseSnapshotter's), and needs no check. */
  cleanup(): Promise<void> {
    return (this.#chosen ?? new CopySnapshotter({ root: this.root })).cleanup();
  }
}

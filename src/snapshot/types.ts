import type { Readable } from 'node:stream';
import type { Digest } from '../core/index.js';
import type { Mount } from './mount.js';

/**
 * A committed, read-only filesystem state. Cheap to hold (a description, not a resource); its data
 * lives until it is removed from the snapshotter.
 */
export interface ImmutableSnapshot {
  readonly kind: 'immutable';
  readonly id: string;
  readonly parent: ImmutableSnapshot | null;
  /** OCI chain ID when this snapshot is a stack of layers with known diffIDs, else null. */
  readonly chainId: Digest | null;
  /** diffID of the layer this snapshot adds on its parent, when known. */
  readonly diffId: Digest | null;
}

/** A mounted (or directly usable) root filesystem. Disposing unmounts it. */
export interface MountedRootfs extends AsyncDisposable {
  /** The directory holding the snapshot's files. */
  readonly path: string;
}

/**
 * A writable snapshot on top of `parent`. The caller owns it: dispose it on every path (removes the
 * writable layer and any mount made through it), or `commit()` it (after which dispose does nothing).
 */
export interface MutableSnapshot extends AsyncDisposable {
  readonly kind: 'mutable';
  readonly id: string;
  readonly parent: ImmutableSnapshot | null;
  /** How to mount this snapshot (absolute paths), e.g. for an OCI runtime spec. */
  mounts(): readonly Mount[];
  /**
   * Makes the snapshot's files available at `target` (a directory), or where the snapshotter chooses
   * when `target` is omitted. The handle must be disposed; the snapshot's dispose also releases it.
   */
  mount(target?: string, signal?: AbortSignal): Promise<MountedRootfs>;
  /**
   * Freezes the snapshot. Releases its mounts first. The mutable snapshot is finished afterwards.
   * With `diffId` (the diffID of the layer made from this snapshot's changes) and a parent that is a
   * layer chain (or none), it is stored under its chain ID, so `getByChainId` finds it and the layer
   * is never unpacked again; if that chain is already unpacked, the existing snapshot is returned.
   */
  commit(signal?: AbortSignal, diffId?: Digest): Promise<ImmutableSnapshot>;
}

export interface DiffOptions {
  /** Clamp entry mtimes to this (SOURCE_DATE_EPOCH, seconds). */
  readonly sourceDateEpoch?: number | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface ApplyLayerOptions {
  readonly signal?: AbortSignal | undefined;
}

/** Owned by the snapshot module (STYLE rule 9); implementations: overlayfs and copy. */
export interface Snapshotter {
  readonly name: 'overlayfs' | 'copy';
  /** A writable snapshot on `parent` (null: empty). `key` names it in errors and metadata. */
  prepare(parent: ImmutableSnapshot | null, key: string, signal?: AbortSignal): Promise<MutableSnapshot>;
  /** A read-only view of `parent`, mounted at `target` (or where the snapshotter chooses). */
  view(parent: ImmutableSnapshot, target?: string, signal?: AbortSignal): Promise<MountedRootfs>;
  /**
   * The snapshot of `layer` (plain, gzip or zstd tar) on `parent`, keyed by chain ID: unpacked at
   * most once, also when called concurrently. The uncompressed tar must hash to `diffId`
   * (DIGEST_MISMATCH otherwise; nothing is kept). The stream is always consumed or destroyed.
   */
  applyLayer(parent: ImmutableSnapshot | null, layer: AsyncIterable<Uint8Array>, diffId: Digest, options?: ApplyLayerOptions): Promise<ImmutableSnapshot>;
  /** A committed snapshot by id, with its ancestors; null when absent. */
  get(id: string): Promise<ImmutableSnapshot | null>;
  /** The snapshot for a chain ID if it was already unpacked (to skip fetching the blob). */
  getByChainId(chainId: Digest): Promise<ImmutableSnapshot | null>;
  /**
   * The directory holding only what `snapshot` adds on its parent (overlayfs keeps each layer apart),
   * for reading (e.g. which layer wrote a file); undefined when snapshots are full copies.
   */
  layerDir(snapshot: ImmutableSnapshot): string | undefined;
  /** The changes of `snapshot` relative to its parent as a layer tar stream. */
  diff(snapshot: MutableSnapshot, options?: DiffOptions): Readable;
  /**
   * The changes of a committed snapshot relative to its parent as a layer tar stream: byte for byte
   * what `diff()` gave for it before it was committed (layers are made lazily, when first needed).
   */
  diffCommitted(snapshot: ImmutableSnapshot, options?: DiffOptions): Readable;
  /**
   * Removes a committed snapshot. The caller owns it alone: no other snapshot has it as parent and
   * nothing has it mounted (e.g. the kept rootfs of a failed step, see debug/). Absent: no-op.
   */
  remove(snapshot: ImmutableSnapshot): Promise<void>;
  /** Unmounts leftovers and removes work dirs of crashed processes using this state root. */
  cleanup(): Promise<void>;
}

export type { Mount };
export type { Readable };

/**
 * What the overlayfs and copy snapshotters share: the state root layout, JSON metadata (zod, temp +
 * rename), chain-ID keyed layer unpacking with single-flight, mutable snapshots that release their
 * mounts on every path, and crash cleanup.
 *
 * Layout under the root:
 *   snapshots/<id>/fs, meta.json   committed snapshots (id = chain ID hex for layers)
 *   active/<owner>-<random>/fs, work, mnt   mutable snapshots
 *   mounts/<owner>-<random>.json   one journal entry per live mount (its target)
 *   tmp/<owner>-<random>/          layers being unpacked, snapshots being committed
 *   empty/                         an empty lower dir
 *
 * Several processes share one root. Whatever a process creates there carries its owner
 * (`<pid>-<start time>`, util/owner.ts) in its name from the first moment it exists, so `cleanup()`
 * removes only what a process that is no longer running left behind: never a directory another build
 * has just created, never a journal entry it is still writing (temp files are skipped unless their
 * writer is dead). Committed snapshots appear by rename, whole or not at all.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { StagecraftError, digestHex, parseDigest, sha256Digest, type Digest } from '../core/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { PROCESS_OWNER, ownerAlive } from '../util/owner.js';
import type { ApplyResult } from './apply.js';
import { mountAt, removeUnmounted, unmount, type Mount, type MountCommand } from './mount.js';
import { packChanges, type LayerItem } from './pack.js';
import { writeTar } from './tar/writer.js';
import type { ApplyLayerOptions, DiffOptions, ImmutableSnapshot, MountedRootfs, MutableSnapshot, Snapshotter } from './types.js';

const CommittedMeta = z.object({
  version: z.literal(1),
  id: z.string().regex(/^[a-f0-9]{16,64}$/u),
  parent: z.string().nullable(),
  chainId: z.string().nullable(),
  diffId: z.string().nullable(),
});

const OwnerMeta = z.object({
  version: z.literal(1),
  owner: z.string(),
  target: z.string().optional(),
  key: z.string().optional(),
});

const OWNER = PROCESS_OWNER;

/** The owner a name under active/, mounts/ or tmp/ starts with (a temp file's after its dot). */
export function ownerOfName(name: string): string | undefined {
  return /^\.?(\d+-\d+)-/u.exec(name)?.[1];
}

/** A new name owned by this process. */
function ownedName(): string {
  return `${OWNER}-${randomBytes(8).toString('hex')}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** OCI chain ID: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainId(parent: Digest | null, diffId: Digest): Digest {
  return parent === null ? diffId : sha256Digest(`${parent} ${diffId}`);
}

function destroyStream(layer: AsyncIterable<Uint8Array>): void {
  const stream = layer as Partial<Readable>;
  if (typeof stream.destroy === 'function') stream.destroy();
}

export interface SnapshotterOptions {
  /** The snapshotter's state directory (created if missing). */
  readonly root: string;
}

export interface ActiveDirs {
  readonly id: string;
  readonly dir: string;
  readonly fs: string;
  readonly work: string;
}

export abstract class BaseSnapshotter implements Snapshotter {
  abstract readonly name: 'overlayfs' | 'copy';
  abstract layerDir(snapshot: ImmutableSnapshot): string | undefined;
  protected readonly root: string;
  protected readonly snapshotsDir: string;
  private readonly inflight = new Map<string, Promise<ImmutableSnapshot>>();
  private ready: Promise<void> | undefined;

  constructor(options: SnapshotterOptions) {
    this.root = options.root;
    this.snapshotsDir = join(options.root, 'snapshots');
  }

  // ---- hooks of the implementations

  /** Fills a new mutable snapshot's directories from its parent. */
  protected abstract populate(parent: ImmutableSnapshot | null, active: ActiveDirs, signal?: AbortSignal): Promise<void>;
  /** How to mount a mutable snapshot; null: its `fs` dir is used as is. */
  protected abstract activeMount(parent: ImmutableSnapshot | null, active: ActiveDirs, signal?: AbortSignal): Promise<MountCommand | null>;
  /** How to mount a read-only view; null: the committed dir is used as is. */
  protected abstract viewMount(parent: ImmutableSnapshot, signal?: AbortSignal): Promise<MountCommand | null>;
  /** Unpacks `layer` into the new, empty directory `fs` for a snapshot on `parent`. */
  protected abstract unpack(parent: ImmutableSnapshot | null, fs: string, layer: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ApplyResult>;
  /** The changes of a mutable snapshot against its parent (made as they are iterated, if synchronous). */
  protected abstract changes(parent: ImmutableSnapshot | null, active: ActiveDirs, signal?: AbortSignal): Iterable<LayerItem> | AsyncIterable<LayerItem>;

  // ---- shared

  protected async init(): Promise<void> {
    this.ready ??= (async () => {
      for (const sub of ['snapshots', 'active', 'mounts', 'tmp', 'empty']) await mkdir(join(this.root, sub), { recursive: true });
    })();
    return this.ready;
  }

  /** The committed directory of a snapshot. */
  fsDir(snapshot: ImmutableSnapshot): string {
    return join(this.snapshotsDir, snapshot.id, 'fs');
  }

  /** Committed dirs of `snapshot` and its ancestors, topmost first. */
  protected chain(snapshot: ImmutableSnapshot | null): ImmutableSnapshot[] {
    const out: ImmutableSnapshot[] = [];
    for (let s = snapshot; s !== null; s = s.parent) out.push(s);
    return out;
  }

  /** A committed snapshot by id, with its ancestors; null when absent. */
  async get(id: string): Promise<ImmutableSnapshot | null> {
    let text: string;
    try {
      text = await readFile(join(this.snapshotsDir, id, 'meta.json'), 'utf8');
    } catch {
      return null;
    }
    const parsed = CommittedMeta.safeParse(parseJson(text));
    if (!parsed.success || parsed.data.id !== id) {
      throw new StagecraftError('STORE_CORRUPT', `snapshot metadata ${join(this.snapshotsDir, id, 'meta.json')} is invalid`, {
        hint: `remove the directory ${join(this.snapshotsDir, id)}; it is rebuilt when needed`,
      });
    }
    const meta = parsed.data;
    const parent = meta.parent === null ? null : await this.get(meta.parent);
    if (meta.parent !== null && parent === null) {
      throw new StagecraftError('STORE_CORRUPT', `snapshot ${id} refers to the missing parent ${meta.parent}`, {
        hint: `remove the directory ${join(this.snapshotsDir, id)}`,
      });
    }
    return {
      kind: 'immutable',
      id,
      parent,
      chainId: meta.chainId === null ? null : parseDigest(meta.chainId),
      diffId: meta.diffId === null ? null : parseDigest(meta.diffId),
    };
  }

  async getByChainId(chain: Digest): Promise<ImmutableSnapshot | null> {
    await this.init();
    return this.get(digestHex(chain));
  }

  /**
   * Writes the metadata into `staged` (holding `fs/`) and renames it into place as the committed
   * snapshot. If another process stored the same chain first, theirs is as good as ours.
   */
  private async publish(staged: string, snapshot: ImmutableSnapshot): Promise<void> {
    await this.writeMeta(staged, snapshot);
    try {
      await rename(staged, join(this.snapshotsDir, snapshot.id));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    }
  }

  private async writeMeta(dir: string, snapshot: ImmutableSnapshot): Promise<void> {
    await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify({
      version: 1,
      id: snapshot.id,
      parent: snapshot.parent?.id ?? null,
      chainId: snapshot.chainId,
      diffId: snapshot.diffId,
    }));
  }

  async applyLayer(parent: ImmutableSnapshot | null, layer: AsyncIterable<Uint8Array>, diffId: Digest, options: ApplyLayerOptions = {}): Promise<ImmutableSnapshot> {
    await this.init();
    const chain = parent === null || parent.chainId !== null ? chainId(parent?.chainId ?? null, diffId) : null;
    const key = chain ?? sha256Digest(`${parent?.id ?? ''} ${diffId}`);
    const id = digestHex(key);
    const running = this.inflight.get(id);
    if (running !== undefined) {
      destroyStream(layer);
      return running;
    }
    const existing = await this.get(id);
    if (existing !== null) {
      destroyStream(layer);
      return existing;
    }
    const snapshot: ImmutableSnapshot = { kind: 'immutable', id, parent, chainId: chain, diffId };
    const work = (async () => {
      const tmp = join(this.root, 'tmp', ownedName());
      try {
        await mkdir(join(tmp, 'fs'), { recursive: true });
        let result: ApplyResult;
        try {
          result = await this.unpack(parent, join(tmp, 'fs'), layer, options.signal);
        } finally {
          destroyStream(layer);
        }
        if (result.diffId !== diffId) {
          throw new StagecraftError('DIGEST_MISMATCH', `layer content has diffID ${result.diffId}, expected ${diffId}`, {
            hint: 'the layer blob does not belong to this image config (or is damaged); nothing was stored',
          });
        }
        await this.publish(tmp, snapshot);
        return snapshot;
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    })();
    this.inflight.set(id, work);
    try {
      return await work;
    } finally {
      this.inflight.delete(id);
    }
  }

  async prepare(parent: ImmutableSnapshot | null, key: string, signal?: AbortSignal): Promise<MutableSnapshot> {
    await this.init();
    signal?.throwIfAborted();
    // The owner is in the directory's name, so no other process's cleanup can take it for a
    // crashed build's leftover while it is being filled.
    const id = ownedName();
    const dir = join(this.root, 'active', id);
    const active: ActiveDirs = { id, dir, fs: join(dir, 'fs'), work: join(dir, 'work') };
    await mkdir(dir);
    try {
      await writeFileAtomic(join(dir, 'owner.json'), JSON.stringify({ version: 1, owner: OWNER, key }));
      await this.populate(parent, active, signal);
      return new ActiveSnapshot(this, parent, active, await this.activeMount(parent, active, signal));
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async view(parent: ImmutableSnapshot, target?: string, signal?: AbortSignal): Promise<MountedRootfs> {
    await this.init();
    const command = await this.viewMount(parent, signal);
    if (command === null) {
      if (target === undefined) return { path: this.fsDir(parent), [Symbol.asyncDispose]: async () => {} };
      return this.mountTracked({ type: 'none', source: this.fsDir(parent), options: ['bind', 'ro'] }, target, signal);
    }
    if (target === undefined) throw new Error(`${this.name} views need a mount target`);
    return this.mountTracked(command, target, signal);
  }

  /** Mounts with a journal entry, so a crashed process's mounts can be found by `cleanup()`. */
  async mountTracked(command: MountCommand, target: string, signal?: AbortSignal): Promise<MountedRootfs> {
    await this.init();
    const journal = join(this.root, 'mounts', `${ownedName()}.json`);
    await writeFileAtomic(journal, JSON.stringify({ version: 1, owner: OWNER, target }));
    try {
      await mountAt(command, target, signal);
    } catch (error) {
      // An abort can land after the kernel mounted: never leave that behind.
      await unmount(target).catch(() => undefined);
      await rm(journal, { force: true });
      throw error;
    }
    let released: Promise<void> | undefined;
    return {
      path: target,
      [Symbol.asyncDispose]: () => {
        released ??= (async () => {
          await unmount(target);
          await rm(journal, { force: true });
        })();
        return released;
      },
    };
  }

  /** @internal used by ActiveSnapshot */
  async commitActive(parent: ImmutableSnapshot | null, active: ActiveDirs, diffId?: Digest): Promise<ImmutableSnapshot> {
    const chain = diffId !== undefined && (parent === null || parent.chainId !== null) ? chainId(parent?.chainId ?? null, diffId) : null;
    if (chain === null) {
      // A step's result before its layer is made (ops/layers.ts): found through its cache record.
      const id = randomBytes(16).toString('hex');
      return this.publishActive(active, { kind: 'immutable', id, parent, chainId: null, diffId: null });
    }
    // Keyed by chain ID, as applyLayer keys what it unpacks: staged next to the active dir with its
    // metadata, then renamed into place in one step (another build may have stored it first).
    const id = digestHex(chain);
    return this.publishActive(active, { kind: 'immutable', id, parent, chainId: chain, diffId: diffId ?? null }, () => this.get(id));
  }

  /**
   * Moves an active snapshot's fs into a staging dir beside it with its metadata and renames that into
   * place (never a committed dir without meta.json), unless `existing` finds it already stored; the
   * active dir is removed on every path.
   */
  private async publishActive(active: ActiveDirs, snapshot: ImmutableSnapshot, existing?: () => Promise<ImmutableSnapshot | null>): Promise<ImmutableSnapshot> {
    try {
      const found = existing === undefined ? null : await existing();
      if (found !== null) return found;
      const staged = join(active.dir, 'commit');
      await mkdir(staged);
      await rename(active.fs, join(staged, 'fs'));
      await this.publish(staged, snapshot);
      return snapshot;
    } finally {
      await rm(active.dir, { recursive: true, force: true });
    }
  }

  async remove(snapshot: ImmutableSnapshot): Promise<void> {
    await this.init();
    if (!/^[a-f0-9]{16,64}$/u.test(snapshot.id)) throw new Error(`remove: invalid snapshot id ${snapshot.id}`);
    // Out of snapshots/ in one rename (never a half-removed snapshot that get() still accepts), then deleted.
    const doomed = join(this.root, 'tmp', ownedName());
    try {
      await rename(join(this.snapshotsDir, snapshot.id), doomed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    await removeUnmounted(doomed);
    await this.forget(snapshot.id);
  }

  /** Hook: drops what an implementation keeps beside a removed snapshot (overlay: its short link). */
  protected async forget(_id: string): Promise<void> {}

  diff(snapshot: MutableSnapshot, options: DiffOptions = {}): Readable {
    if (!(snapshot instanceof ActiveSnapshot) || snapshot.owner !== this) throw new Error('diff() of a snapshot from another snapshotter');
    const items = this.changes(snapshot.parent, snapshot.active, options.signal);
    return writeTar(packChanges(items, { sourceDateEpoch: options.sourceDateEpoch, signal: options.signal }), options.signal);
  }

  /**
   * The changes a committed snapshot made on its parent, as a layer tar: the same bytes `diff()` gave
   * for its mutable snapshot just before `commit()` (the committed `fs` is that snapshot's directory,
   * renamed; nothing writes to a committed snapshot), so a layer can be made when it is first needed.
   */
  diffCommitted(snapshot: ImmutableSnapshot, options: DiffOptions = {}): Readable {
    const dir = join(this.snapshotsDir, snapshot.id);
    const items = this.changes(snapshot.parent, { id: snapshot.id, dir, fs: join(dir, 'fs'), work: join(dir, 'work') }, options.signal);
    return writeTar(packChanges(items, { sourceDateEpoch: options.sourceDateEpoch, signal: options.signal }), options.signal);
  }

  /**
   * Removes what crashed or killed processes left: their mounts (from the journal), mutable
   * snapshots and temp dirs. Only entries whose owner is provably gone are touched (see the header);
   * a mount point is unmounted before anything under it is removed.
   */
  async cleanup(): Promise<void> {
    await this.init();
    const dead = (name: string): boolean => {
      const owner = ownerOfName(name);
      return owner !== undefined && !ownerAlive(owner);
    };
    for (const name of await readdir(join(this.root, 'mounts'))) {
      const path = join(this.root, 'mounts', name);
      if (name.endsWith('.tmp')) {
        // A journal entry still being written: its writer's, unless that writer is gone.
        if (dead(name)) await rm(path, { force: true });
        continue;
      }
      if (!dead(name) && ownerOfName(name) !== undefined) continue;
      const text = await readFile(path, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const meta = OwnerMeta.safeParse(parseJson(text));
      // Entries of older versions have no owner in their name: their content names it.
      if (ownerOfName(name) === undefined && (!meta.success || ownerAlive(meta.data.owner))) continue;
      if (meta.success && meta.data.target !== undefined) await unmount(meta.data.target);
      await rm(path, { force: true });
    }
    for (const id of await readdir(join(this.root, 'active'))) {
      const dir = join(this.root, 'active', id);
      if (ownerOfName(id) === undefined) {
        const meta = OwnerMeta.safeParse(parseJson(await readFile(join(dir, 'owner.json'), 'utf8').catch(() => '')));
        if (!meta.success || ownerAlive(meta.data.owner)) continue;
      } else if (!dead(id)) {
        continue;
      }
      await removeUnmounted(dir);
    }
    for (const name of await readdir(join(this.root, 'tmp'))) {
      if (dead(name)) await removeUnmounted(join(this.root, 'tmp', name));
    }
    for (const name of await readdir(this.root)) {
      if (name.startsWith('overlay-check-') && dead(name.slice('overlay-check-'.length))) await removeUnmounted(join(this.root, name));
    }
  }
}

/** Absolute-path form of a mount command (for `mounts()`). */
export function absoluteMount(command: MountCommand): Mount {
  const base = command.cwd;
  if (base === undefined) return { type: command.type, source: command.source, options: command.options };
  const abs = (p: string): string => (p.startsWith('/') ? p : join(base, p));
  return {
    type: command.type,
    source: command.source,
    options: command.options.map((option) => {
      const eq = option.indexOf('=');
      const key = option.slice(0, eq);
      if (key === 'lowerdir') return `lowerdir=${option.slice(eq + 1).split(':').map(abs).join(':')}`;
      if (key === 'upperdir' || key === 'workdir') return `${key}=${abs(option.slice(eq + 1))}`;
      return option;
    }),
  };
}

class ActiveSnapshot implements MutableSnapshot {
  readonly kind = 'mutable';
  readonly id: string;
  private readonly handles = new Set<MountedRootfs>();
  private state: 'active' | 'committed' | 'removed' = 'active';

  constructor(
    readonly owner: BaseSnapshotter,
    readonly parent: ImmutableSnapshot | null,
    readonly active: ActiveDirs,
    private readonly command: MountCommand | null,
  ) {
    this.id = active.id;
  }

  private checkActive(what: string): void {
    if (this.state !== 'active') throw new Error(`${what} on a ${this.state} snapshot ${this.id}`);
  }

  mounts(): readonly Mount[] {
    const command = this.command;
    return command === null ? [{ type: 'bind', source: this.active.fs, options: ['rbind', 'rw'] }] : [absoluteMount(command)];
  }

  async mount(target?: string, signal?: AbortSignal): Promise<MountedRootfs> {
    this.checkActive('mount()');
    let command = this.command;
    if (command === null) {
      if (target === undefined) return { path: this.active.fs, [Symbol.asyncDispose]: async () => {} };
      command = { type: 'none', source: this.active.fs, options: ['bind'] };
    }
    let where = target;
    if (where === undefined) {
      where = join(this.active.dir, 'mnt');
      await mkdir(where, { recursive: true });
    }
    const handle = await this.owner.mountTracked(command, where, signal);
    const handles = this.handles;
    handles.add(handle);
    return {
      path: handle.path,
      [Symbol.asyncDispose]: async () => {
        handles.delete(handle);
        await handle[Symbol.asyncDispose]();
      },
    };
  }

  private async release(): Promise<void> {
    const errors: unknown[] = [];
    for (const handle of [...this.handles]) {
      try {
        await handle[Symbol.asyncDispose]();
      } catch (error) {
        errors.push(error);
      }
    }
    this.handles.clear();
    if (errors.length > 0) throw errors[0];
  }

  async commit(signal?: AbortSignal, diffId?: Digest): Promise<ImmutableSnapshot> {
    this.checkActive('commit()');
    signal?.throwIfAborted();
    await this.release();
    const snapshot = await this.owner.commitActive(this.parent, this.active, diffId);
    this.state = 'committed';
    return snapshot;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state !== 'active') return;
    this.state = 'removed';
    try {
      await this.release();
    } finally {
      await rm(this.active.dir, { recursive: true, force: true });
    }
  }
}

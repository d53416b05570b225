/**
 * The overlayfs snapshotter: each committed snapshot is one overlay layer directory (whiteouts as 0/0
 * character devices, opaque directories with `trusted.overlay.opaque=y`); a mutable snapshot mounts
 * its parent chain's directories as lowerdirs under its own upperdir, which is its diff. In a user
 * namespace (rootless) overlay is mounted with `userxattr` (Linux 5.11): its opaque marker is then
 * `user.overlay.opaque`, since trusted.* xattrs need the host's CAP_SYS_ADMIN (without the option the
 * mount succeeds there but removing a lower directory fails with EIO).
 *
 * Deep chains: the kernel copies mount options into one page, so a lowerdir list of full paths fits
 * only a few dozen layers. As Docker's overlay2 driver does with its `l/` directory, every layer gets
 * a short symlink `links/<10 hex>` → `../snapshots/<id>/fs`, and mount(8) runs in `links/` so each
 * lowerdir costs 11 bytes: about 350 layers fit in a page (overlayfs stacks up to 500). A chain that
 * still does not fit is mounted with its lower part flattened: the merged view of the bottom layers
 * is copied once into `snapshots/<id>/merged` and used as one lowerdir. Deep chains never fail.
 */
import { lstat, mkdir, mkdtemp, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { StagecraftError } from '../core/index.js';
import { runProcess } from '../util/process.js';
import { PROCESS_OWNER } from '../util/owner.js';
import { currentUserNamespace } from '../util/userns.js';
import { applyLayer, canMakeDevices, type ApplyResult } from './apply.js';
import { overlayChangesSync } from './diff.js';
import { isMounted, mountAt, unmount, type MountCommand } from './mount.js';
import type { LayerItem } from './pack.js';
import { BaseSnapshotter, type ActiveDirs, type SnapshotterOptions } from './snapshotter.js';
import type { ImmutableSnapshot } from './types.js';
import { OVERLAY_OPAQUE, OVERLAY_OPAQUE_USER } from './xattr.js';

/** Page size minus slack: the kernel copies mount options into one page. */
const MAX_MOUNT_OPTIONS = 4000;
/** Hex digits of a layer's link name; longer only if two ids share the prefix. */
const LINK_LENGTH = 10;

/** overlayfs refuses more lower layers than this (OVL_MAX_STACK). */
const MAX_LOWERS = 500;

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

export interface OverlaySnapshotterOptions extends SnapshotterOptions {
  /** Mount with `userxattr` (user.overlay.* xattrs). Default: when running in a user namespace. */
  readonly userxattr?: boolean | undefined;
}

export class OverlaySnapshotter extends BaseSnapshotter {
  readonly name = 'overlayfs';
  private readonly userxattr: boolean;

  constructor(options: OverlaySnapshotterOptions) {
    super(options);
    this.userxattr = options.userxattr ?? currentUserNamespace() !== undefined;
  }

  private get opaqueXattr(): string {
    return this.userxattr ? OVERLAY_OPAQUE_USER : OVERLAY_OPAQUE;
  }

  /** Mount options every overlay of this snapshotter carries. */
  private get common(): string[] {
    return this.userxattr ? ['userxattr'] : [];
  }

  layerDir(snapshot: ImmutableSnapshot): string {
    return this.fsDir(snapshot);
  }

  private get linksDir(): string {
    return join(this.root, 'links');
  }

  /**
   * The short link name of a directory under snapshots/ (`<id>/fs` or `<id>/merged`), created if
   * missing. Names are prefixes of the id (plus `m` for merged dirs), extended on a collision.
   */
  private async link(id: string, sub: 'fs' | 'merged'): Promise<string> {
    const target = `../snapshots/${id}/${sub}`;
    for (let length = LINK_LENGTH; ; length += 4) {
      const name = `${sub === 'merged' ? 'm' : ''}${id.slice(0, length)}`;
      const path = join(this.linksDir, name);
      for (let attempt = 0; attempt < 2; attempt++) {
        const current = await readlink(path).catch(() => undefined);
        if (current === target) return name;
        if (current !== undefined) break;
        try {
          await symlink(target, path);
          return name;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
      }
      if (length >= id.length) throw new Error(`overlay: no free link name for ${id}`);
    }
  }

  /** lowerdir entries (names in links/), topmost first, flattening the bottom if they do not fit. */
  private async lowers(parent: ImmutableSnapshot | null, budget: number, signal?: AbortSignal): Promise<string[]> {
    const chain = this.chain(parent);
    const names: string[] = [];
    let used = 0;
    for (const [index, snapshot] of chain.entries()) {
      const name = await this.link(snapshot.id, 'fs');
      // Room for this layer and, if more follow, for one merged entry below it.
      const rest = index + 1 < chain.length ? LINK_LENGTH + 8 : 0;
      if (used + name.length + 1 + rest > budget || names.length + 2 > MAX_LOWERS) {
        names.push(await this.link(await this.merged(snapshot, signal), 'merged'));
        return names;
      }
      names.push(name);
      used += name.length + 1;
    }
    return names;
  }

  /**
   * The id of the snapshot whose `merged/` dir holds the whole tree of `snapshot` (made once, by
   * copying a read-only overlay view of its chain; the copy is staged in tmp/ and renamed).
   */
  private async merged(snapshot: ImmutableSnapshot, signal?: AbortSignal): Promise<string> {
    const dir = join(this.snapshotsDir, snapshot.id, 'merged');
    if (await exists(dir)) return snapshot.id;
    const stage = join(this.root, 'tmp', `${PROCESS_OWNER}-${randomBytes(8).toString('hex')}`);
    await mkdir(join(stage, 'view'), { recursive: true });
    try {
      {
        const view = await this.view(snapshot, join(stage, 'view'), signal);
        try {
          const copied = await runProcess('cp', ['-a', '--', `${join(stage, 'view')}/.`, join(stage, 'tree')], { signal });
          if (copied.code !== 0) {
            const full = /No space left on device|Disk quota exceeded/u.test(copied.stderr);
            throw new StagecraftError(full ? 'NO_SPACE' : 'SNAPSHOT', `cannot flatten the ${this.chain(snapshot).length} layers of snapshot ${snapshot.id}: ${copied.stderr.trim()}`, {
              hint: 'check free disk space under the state root (`stagecraft du`); `stagecraft prune` frees build cache',
            });
          }
        } finally {
          await view[Symbol.asyncDispose]();
        }
      }
      try {
        await rename(join(stage, 'tree'), dir);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
      }
      return snapshot.id;
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  }

  protected override async forget(id: string): Promise<void> {
    for (let length = LINK_LENGTH; length <= id.length; length += 4) {
      const path = join(this.linksDir, id.slice(0, length));
      if ((await readlink(path).catch(() => undefined)) === `../snapshots/${id}/fs`) await rm(path, { force: true });
    }
  }

  protected override async init(): Promise<void> {
    await super.init();
    await mkdir(this.linksDir, { recursive: true });
  }

  protected async populate(_parent: ImmutableSnapshot | null, active: ActiveDirs): Promise<void> {
    await mkdir(active.fs);
    await mkdir(active.work);
  }

  protected async activeMount(parent: ImmutableSnapshot | null, active: ActiveDirs, signal?: AbortSignal): Promise<MountCommand> {
    const own = [`upperdir=../active/${active.id}/fs`, `workdir=../active/${active.id}/work`, 'index=off', ...this.common];
    const lowers = await this.lowers(parent, MAX_MOUNT_OPTIONS - own.join(',').length - 'lowerdir=,'.length, signal);
    return {
      type: 'overlay',
      source: 'overlay',
      cwd: this.linksDir,
      options: [`lowerdir=${lowers.length === 0 ? '../empty' : lowers.join(':')}`, ...own],
    };
  }

  protected async viewMount(parent: ImmutableSnapshot, signal?: AbortSignal): Promise<MountCommand> {
    // A read-only overlay needs two lowerdirs; one layer is a read-only bind mount.
    if (parent.parent === null) return { type: 'none', source: this.fsDir(parent), options: ['bind', 'ro'] };
    const lowers = await this.lowers(parent, MAX_MOUNT_OPTIONS - 'lowerdir=,userxattr'.length, signal);
    if (lowers.length === 1) return { type: 'none', source: join(this.linksDir, lowers[0] ?? ''), options: ['bind', 'ro'] };
    return { type: 'overlay', source: 'overlay', cwd: this.linksDir, options: [`lowerdir=${lowers.join(':')}`, ...this.common] };
  }

  protected async unpack(_parent: ImmutableSnapshot | null, fs: string, layer: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ApplyResult> {
    return applyLayer(fs, layer, { whiteouts: 'overlay', opaqueXattr: this.opaqueXattr, devices: canMakeDevices(), signal });
  }

  protected changes(parent: ImmutableSnapshot | null, active: ActiveDirs): Iterable<LayerItem> {
    return overlayChangesSync(active.fs, this.chain(parent).map((s) => this.fsDir(s)), this.opaqueXattr);
  }
}

/**
 * Whether overlayfs can be mounted under `root` (tries a tiny mount and removes it); in a user
 * namespace with `userxattr`, as the snapshotter will mount it.
 */
export async function overlaySupported(root: string, userxattr = currentUserNamespace() !== undefined): Promise<boolean> {
  await mkdir(root, { recursive: true });
  // Named by its owner, so cleanup() can tell a killed check's leftover from a running one.
  const dir = await mkdtemp(join(root, `overlay-check-${PROCESS_OWNER}-`));
  const target = join(dir, 'merged');
  try {
    for (const sub of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, sub));
    await writeFile(join(dir, 'lower', 'f'), '');
    await mountAt({ type: 'overlay', source: 'overlay', options: [`lowerdir=${join(dir, 'lower')}`, `upperdir=${join(dir, 'upper')}`, `workdir=${join(dir, 'work')}`, 'index=off', ...(userxattr ? ['userxattr'] : [])] }, target);
    return true;
  } catch {
    return false;
  } finally {
    if (await isMounted(target)) await unmount(target);
    await rm(dir, { recursive: true, force: true });
  }
}

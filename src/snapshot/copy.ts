/**
 * The copy snapshotter, for where overlayfs is unavailable: every snapshot is a full tree; a mutable
 * snapshot starts as a copy of its parent (cp -a keeps owners, modes, nanosecond times, xattrs and
 * hardlinks, and reflinks where the filesystem can), and its diff compares the two trees.
 */
import { mkdir } from 'node:fs/promises';
import { StagecraftError } from '../core/index.js';
import { runProcess } from '../util/process.js';
import { applyLayer, canMakeDevices, type ApplyResult } from './apply.js';
import { treeChanges } from './diff.js';
import type { MountCommand } from './mount.js';
import type { LayerItem } from './pack.js';
import { BaseSnapshotter, type ActiveDirs } from './snapshotter.js';
import type { ImmutableSnapshot } from './types.js';

export class CopySnapshotter extends BaseSnapshotter {
  readonly name = 'copy';

  /** Every snapshot is a full copy: no directory holds one layer's changes. */
  layerDir(): undefined {
    return undefined;
  }

  private async copyTree(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const result = await runProcess('cp', ['-a', '--reflink=auto', '--', `${from}/.`, to], { signal });
    if (result.code !== 0) {
      const full = /No space left on device|Disk quota exceeded/u.test(result.stderr);
      throw new StagecraftError(full ? 'NO_SPACE' : 'SNAPSHOT', `cannot copy snapshot ${from} to ${to}: ${result.stderr.trim()}`, {
        hint: full
          ? 'the state root\'s filesystem is full: `stagecraft prune` drops unused build cache, `stagecraft prune --all` also unpacked layers and cache mounts'
          : 'check free disk space under the state root',
      });
    }
  }

  protected async populate(parent: ImmutableSnapshot | null, active: ActiveDirs, signal?: AbortSignal): Promise<void> {
    await mkdir(active.fs);
    if (parent !== null) await this.copyTree(this.fsDir(parent), active.fs, signal);
  }

  protected activeMount(): Promise<MountCommand | null> {
    return Promise.resolve(null);
  }

  protected viewMount(): Promise<MountCommand | null> {
    return Promise.resolve(null);
  }

  protected async unpack(parent: ImmutableSnapshot | null, fs: string, layer: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ApplyResult> {
    if (parent !== null) await this.copyTree(this.fsDir(parent), fs, signal);
    return applyLayer(fs, layer, { whiteouts: 'delete', devices: canMakeDevices(), signal });
  }

  protected changes(parent: ImmutableSnapshot | null, active: ActiveDirs, signal?: AbortSignal): AsyncIterable<LayerItem> {
    return treeChanges(parent === null ? null : this.fsDir(parent), active.fs, signal);
  }
}

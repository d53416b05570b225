/**
 * The overlayfs snapshotter: each committed snapshot is one overlay layer directory (whiteouts as 0/0
 * character devices, opaque directories with `trusted.overlay.opaque=y`); a mutable snapshot mounts
 * its parent chain's directories as lowerdirs under its own upperdir, which is its diff.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError } from '../core/index.js';
import { PROCESS_OWNER } from '../util/owner.js';
import { applyLayer, type ApplyResult } from './apply.js';
import { overlayChanges } from './diff.js';
import { isMounted, mountAt, unmount, type MountCommand } from './mount.js';
import type { LayerItem } from './pack.js';
import { BaseSnapshotter, type ActiveDirs } from './snapshotter.js';
import type { ImmutableSnapshot } from './types.js';

/** Page size minus slack: the kernel copies mount options into one page. */
const MAX_MOUNT_OPTIONS = 4000;

export class OverlaySnapshotter extends BaseSnapshotter {
  readonly name = 'overlayfs';

  /** lowerdir entries relative to the snapshots dir, topmost first. */
  private lowers(parent: ImmutableSnapshot | null): string[] {
    return this.chain(parent).map((s) => `${s.id}/fs`);
  }

  private check(command: MountCommand): MountCommand {
    if (command.options.join(',').length > MAX_MOUNT_OPTIONS) {
      const layers = command.options[0]?.split(':').length ?? 0;
      throw new StagecraftError('SNAPSHOT', `an overlay mount of ${layers} layers exceeds the kernel's limit for mount options`, {
        hint: 'squash the base image or use fewer layers',
      });
    }
    return command;
  }

  protected async populate(_parent: ImmutableSnapshot | null, active: ActiveDirs): Promise<void> {
    await mkdir(active.fs);
    await mkdir(active.work);
  }

  protected activeMount(parent: ImmutableSnapshot | null, active: ActiveDirs): MountCommand {
    const lowers = this.lowers(parent);
    return this.check({
      type: 'overlay',
      source: 'overlay',
      cwd: this.snapshotsDir,
      options: [
        `lowerdir=${lowers.length === 0 ? '../empty' : lowers.join(':')}`,
        `upperdir=../active/${active.id}/fs`,
        `workdir=../active/${active.id}/work`,
        'index=off',
      ],
    });
  }

  protected viewMount(parent: ImmutableSnapshot): MountCommand {
    const lowers = this.lowers(parent);
    // A read-only overlay needs two lowerdirs; one layer is a read-only bind mount.
    if (lowers.length === 1) return { type: 'none', source: this.fsDir(parent), options: ['bind', 'ro'] };
    return this.check({ type: 'overlay', source: 'overlay', cwd: this.snapshotsDir, options: [`lowerdir=${lowers.join(':')}`] });
  }

  protected async unpack(_parent: ImmutableSnapshot | null, fs: string, layer: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<ApplyResult> {
    return applyLayer(fs, layer, { whiteouts: 'overlay', devices: process.getuid?.() === 0, signal });
  }

  protected changes(parent: ImmutableSnapshot | null, active: ActiveDirs, signal?: AbortSignal): AsyncIterable<LayerItem> {
    return overlayChanges(active.fs, this.chain(parent).map((s) => this.fsDir(s)), signal);
  }
}

/** Whether overlayfs can be mounted under `root` (tries a tiny mount and removes it). */
export async function overlaySupported(root: string): Promise<boolean> {
  await mkdir(root, { recursive: true });
  // Named by its owner, so cleanup() can tell a killed check's leftover from a running one.
  const dir = await mkdtemp(join(root, `overlay-check-${PROCESS_OWNER}-`));
  const target = join(dir, 'merged');
  try {
    for (const sub of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, sub));
    await writeFile(join(dir, 'lower', 'f'), '');
    await mountAt({ type: 'overlay', source: 'overlay', options: [`lowerdir=${join(dir, 'lower')}`, `upperdir=${join(dir, 'upper')}`, `workdir=${join(dir, 'work')}`, 'index=off'] }, target);
    return true;
  } catch {
    return false;
  } finally {
    if (await isMounted(target)) await unmount(target);
    await rm(dir, { recursive: true, force: true });
  }
}

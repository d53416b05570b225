/**
 * The snapshotter for a state root: overlayfs where the kernel allows it there, else the copy fallback.
 */
import { mkdir } from 'node:fs/promises';
import { currentUserNamespace } from '../util/userns.js';
import { CopySnapshotter } from './copy.js';
import { OverlaySnapshotter, overlaySupported } from './overlay.js';
import type { Snapshotter } from './types.js';

export interface OpenSnapshotterOptions {
  /** Told when a rootless build falls back to copying (overlay in a user namespace failed). */
  readonly warn?: ((message: string) => void) | undefined;
}

export async function openSnapshotter(root: string, options: OpenSnapshotterOptions = {}): Promise<Snapshotter> {
  await mkdir(root, { recursive: true });
  if (await overlaySupported(root)) return new OverlaySnapshotter({ root });
  if (currentUserNamespace() !== undefined) {
    options.warn?.(`overlayfs cannot be mounted in this user namespace under ${root} (it needs Linux 5.11 or later, and a filesystem that allows it): snapshots are full copies, which is slower and takes more disk`);
  }
  return new CopySnapshotter({ root });
}

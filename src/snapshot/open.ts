/**
 * The snapshotter for a state root: overlayfs where the kernel allows it there, else the copy fallback.
 */
import { mkdir } from 'node:fs/promises';
import { CopySnapshotter } from './copy.js';
import { OverlaySnapshotter, overlaySupported } from './overlay.js';
import type { Snapshotter } from './types.js';

export async function openSnapshotter(root: string): Promise<Snapshotter> {
  await mkdir(root, { recursive: true });
  return (await overlaySupported(root)) ? new OverlaySnapshotter({ root }) : new CopySnapshotter({ root });
}

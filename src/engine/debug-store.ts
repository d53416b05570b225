/** The kept states of failed steps in a state root, and the lock a debug session holds on one. */
import { join } from 'node:path';
import type { StoreLocks } from '../cache/index.js';
import { DebugStore } from '../debug/index.js';
import type { Snapshotter } from '../snapshot/index.js';

/** The lock a debug session holds on a kept state (shared), so trimming and prune leave it alone. */
export function debugLockName(buildId: string): string {
  return `debug:${buildId}`;
}

export function openDebugStore(stateRoot: string, snapshotter: Snapshotter, warn?: (message: string) => void): DebugStore {
  return new DebugStore({
    root: join(stateRoot, 'debug'),
    removeSnapshot: async (id) => {
      const snapshot = await snapshotter.get(id).catch(() => null);
      if (snapshot !== null) await snapshotter.remove(snapshot);
    },
    warn,
  });
}

/** Whether a debug session holds `buildId`'s state. */
export function debugBusy(locks: StoreLocks): (buildId: string) => boolean {
  return (buildId) => locks.holders(debugLockName(buildId)).length > 0;
}

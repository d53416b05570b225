import type { Database } from '../db/index.js';
import { collectGarbage, type GcOptions, type GcResult, type GcRootProvider } from './gc.js';
import { LeaseManager } from './leases.js';
import { ReferenceStore } from './references.js';
import { ContentStore } from './store.js';

export interface OpenContentOptions {
  /** The layout directory, normally `<stateRoot>/content`. */
  readonly root: string;
  readonly db: Database;
  /** Milliseconds since the epoch (default `Date.now`). */
  readonly clock?: () => number;
  /** Extra GC roots, e.g. the build cache's records. */
  readonly gcRootProviders?: readonly GcRootProvider[];
}

/** The content store with its references, leases and collector. */
export interface Content {
  readonly blobs: ContentStore;
  readonly references: ReferenceStore;
  readonly leases: LeaseManager;
  gc(options?: GcOptions): Promise<GcResult>;
}

export async function openContent(options: OpenContentOptions): Promise<Content> {
  const blobs = await ContentStore.open({ root: options.root, db: options.db, ...(options.clock === undefined ? {} : { clock: options.clock }) });
  const references = new ReferenceStore(blobs);
  const leases = new LeaseManager(blobs);
  const providers = [...(options.gcRootProviders ?? [])];
  return {
    blobs,
    references,
    leases,
    gc: (gcOptions) => collectGarbage({ store: blobs, references, leases, providers }, gcOptions),
  };
}

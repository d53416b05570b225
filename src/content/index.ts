export { openContent, type Content, type OpenContentOptions } from './content.js';
export { ContentStore, type BlobInfo, type BlobRow, type Conversion, type ContentStoreOptions, type IngestOptions, type Lease } from './store.js';
export {
  CONTAINERD_NAME_ANNOTATION,
  REF_NAME_ANNOTATION,
  ReferenceStore,
  type ImageReference,
  type ReferenceTarget,
} from './references.js';
export { LeaseManager, type CreateLeaseOptions, type LeaseInfo } from './leases.js';
export { DEFAULT_GC_GRACE_MS, collectGarbage, type GcDeps, type GcOptions, type GcResult, type GcRoot, type GcRootProvider } from './gc.js';
export { childrenOf, mayHaveChildren, type ChildRef } from './walk.js';
export { CONTENT_MIGRATIONS, CONTENT_SCHEMA_OWNER } from './schema.js';

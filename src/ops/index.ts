export { opFor, LayerResultCache, type ContextSource, type OpDeps } from './ops.js';
export { BaseImages, type BaseImage, type BaseImageOptions, type BaseImagePins, type ResolvedBaseImage } from './base-images.js';
export { LayerStore, type LayerStoreOptions } from './layers.js';
export { CacheMountPool, type CacheMountRequest } from './cache-mounts.js';
export { ExecFailure, missingMountError, type SecretProvider, type ExecDeps, type ExecStep, type FailedExec, type FailedStepKeeper, type StepRecording } from './exec.js';
export { resolveBindSource } from './bind-source.js';
export { EMPTY_FS, type FsResult } from './result.js';
export { SelectionReader, keyedByContent } from './selected-content.js';
export { HttpDownloads, type DownloadOptions } from './http.js';
export {
  LOCKFILE_NAME,
  LOCKFILE_VERSION,
  checkLockedDockerfile,
  lockImagePins,
  lockUrlPins,
  lockfileSchema,
  makeLockfile,
  parseLockfile,
  serializeLockfile,
  type LocateInput,
  type LockImage,
  type LockUrl,
  type Lockfile,
  type UrlPins,
} from './lockfile.js';

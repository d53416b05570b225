export { ERROR_CODES, exitCode, type ErrorCode } from './error-codes.js';
export {
  StagecraftError,
  isStagecraftError,
  type SourceLocation,
  type SourcePosition,
  type SourceRange,
  type StagecraftErrorOptions,
} from './errors.js';
export { digestHex, isDigest, parseDigest, sha256Digest, type Digest } from './digest.js';
export { canonicalJson } from './canonical-json.js';
export { closest, editDistance } from './suggest.js';
export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarImageRef,
  familiarName,
  formatImageRef,
  imageRefName,
  parseImageRef,
  withDigest,
  withoutTagOrDigest,
  withTag,
  type ImageRef,
  type ParseImageRefOptions,
} from './image-ref.js';
export {
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  parsePlatformList,
  platformEquals,
  type Platform,
  type PlatformFields,
} from './platform.js';
export { cpuNow, phaseDone, phaseTook, type ProfileDetail } from './profile.js';

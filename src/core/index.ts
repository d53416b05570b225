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

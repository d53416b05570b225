export {
  COSIGN_PRIVATE_KEY_PEM,
  SIGSTORE_PRIVATE_KEY_PEM,
  encryptPrivateKey,
  generateKeyFiles,
  loadSigningKey,
  loadVerifyingKey,
  parseSigningKey,
  parseVerifyingKey,
  verifySignature,
  type KeyAlgorithm,
  type SigningKey,
  type VerifyingKey,
} from './keys.js';
export { BUNDLE_MEDIA_TYPE, COSIGN_SIGN_PREDICATE, makeBundle, preAuthEncoding, signatureStatement, verifyBundle, type VerifiedBundle } from './bundle.js';
export {
  BUNDLE_CONTENT_ANNOTATION,
  BUNDLE_PREDICATE_TYPE_ANNOTATION,
  LEGACY_SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  fallbackTag,
  isSignatureTag,
  legacySignatureTag,
  mergeFallbackIndex,
  signArtifacts,
  type SignatureArtifact,
} from './artifacts.js';
export { localSignatureSource, signImage, signatureNamesFor, type SignImageInput, type SignatureSet } from './local.js';
export { pushSignatures, registrySignatureSource, signRemote, type RemoteSignResult } from './remote.js';
export { verifyImageSignatures, type SignatureSource, type VerifyInput, type VerifyResult } from './verify.js';

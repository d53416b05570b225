export {
  createEngine,
  statePaths,
  type ArchiveFormat,
  type Engine,
  type EngineOptions,
  type LoadInputOptions,
  type SaveOptions,
  type SaveResult,
} from './engine.js';
export {
  findImage,
  normaliseName,
  type HistoryEntry,
  type ImageInspect,
  type ImageSummary,
  type InspectOptions,
  type LocalInspect,
  type RemoteInspect,
  type LayerInfo,
  type PullOptions,
  type PullResult,
  type PushOptions,
  type PushResult,
  type RemoveResult,
} from './images.js';
export { ENTITLEMENTS, checkBuildEntitlements, checkPlanEntitlements, parseEntitlements, type Entitlement } from './entitlements.js';
export { build, type BuildDeps, type BuildObserver, type BuildOptions, type BuildResult, type SupplyChainFacts } from './build.js';
export { EPOCH_SOURCES, imageTimes, resolveEpoch, type BuildEpoch, type EpochSource } from './epoch.js';
export { diskUsage, prune, type DiskUsage, type PruneOptions, type PruneResult } from './upkeep.js';
export { checkDockerfile, checkFailure, contextCredentials, warningEvent, type CheckOptions } from './lint.js';
export { type ImageSbom, type SbomOptions } from './sbom.js';
export { debugRecord, type DebugSessionOptions, type DebugSessionResult } from './debug.js';
export { imageAttestations, type ImageAttestations, type ProvenanceView, type SbomView } from './attestations.js';
export { lockInputs, type LockOptions, type LockResult } from './lock.js';
export { locateInput, type BuildPins } from './locked.js';
export { verifyReproducible, type ImageDigests, type RebuildRequest, type VerifyOptions, type VerifyResult, type VerifySubject } from './verify.js';
export { signStoredImage, verifyImageSignature, type SignOptions, type SignResult, type VerifySignatureOptions, type VerifySignatureResult } from './sign.js';
export { basesFromProvenance, type PolicyCheckOptions, type PolicyCheckResult } from './policy-check.js';
export { layerSources } from './layer-sources.js';
export { scanSecrets, type ImageSecrets, type SecretScanOptions } from './scan-secrets.js';

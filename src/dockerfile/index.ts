export { loadDockerfile, parseTriggerCommands } from './load.js';
export { DOCKERFILE_LIMITS, formatSize } from './limits.js';
export { parseDockerfile, dumpAst } from './syntax/index.js';
export type { DockerfileAst, InstructionNode } from './syntax/index.js';
export { ShellLex } from './shell/index.js';
export * as instructions from './instructions/index.js';
export {
  buildStageGraph,
  convertDockerfile,
  requiredMountsOfDockerfile,
  requiredMountsOfPlan,
  type RequiredMount,
  emptyImage,
  type ConvertOptions,
  type ConvertResult,
  type ConvertedStage,
  type GraphStage,
  type PlatformSpec,
  type ResolvedImage,
  type StageGraph,
  type StageImage,
  type ContainerConfig,
  type HistoryEntry,
} from './convert/index.js';

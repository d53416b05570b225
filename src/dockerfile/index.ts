export { loadDockerfile, parseTriggerCommands } from './load.js';
export { DOCKERFILE_LIMITS, formatSize } from './limits.js';
export { parseDockerfile, dumpAst } from './syntax/index.js';
export type { DockerfileAst, InstructionNode } from './syntax/index.js';
export { ShellLex } from './shell/index.js';
export * as instructions from './instructions/index.js';
export {
  buildStageGraph,
  contextKey,
  convertDockerfile,
  namedContextName,
  parseBuildContextFlag,
  type ConvertNamedContext,
  type NamedContextSpec,
  requiredMountsOfDockerfile,
  requiredMountsOfPlan,
  type RequiredMount,
  emptyImage,
  type ConvertOptions,
  type ConvertResult,
  type ConvertedStage,
  type GraphStage,
  type ResolvedImage,
  type StageGraph,
} from './convert/index.js';
export { listTargets, outlineDockerfile, type Outline, type OutlineArg, type OutlineMount, type OutlineOptions, type TargetEntry } from './outline.js';
export { LINT_RULES, RULE_INFO, checkConfigOf, lintDockerfile, isCredentialsPath, OWN_DOCS, type BaseImageInfo, type LintFinding, type LintLevel, type LintResult, type LintRunOptions } from './lint/index.js';

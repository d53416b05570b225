export { buildStageGraph, type GraphStage, type StageBase, type StageDependency, type StageGraph, type StageGraphOptions, type DependencyVia } from './stage-graph.js';
export { isBuilderArg, predefinedPlatformArgs, resolveGlobalArgs, PROXY_ARGS, type GlobalArgs } from './args.js';
export { convertDockerfile, type ConvertOptions, type ConvertResult, type ConvertedStage, type ResolvedImage } from './convert.js';
export { emptyImage, goDuration, goQuote, DEFAULT_PATH, HISTORY_COMMENT } from './image-config.js';
export { parsePorts } from './ports.js';
export { contextKey, namedContextName, parseBuildContextFlag, type ConvertNamedContext, type NamedContextSpec } from './named-contexts.js';
export { requiredMountsOfDockerfile, requiredMountsOfPlan, type RequiredMount } from './required-mounts.js';

export { solve, VertexError, CACHE_KEY_VERSION, type CacheKey, type ExecuteContext, type Op, type ResultCache, type SolveNode, type SolveOptions, type SolveResult } from './solver.js';

export { PlanBuilder, vertexId, PLAN_VERSION, type Plan } from './builder.js';
export type * from './types.js';

export { DURATION_BUCKETS, METRICS, PULL_BUCKETS, renderMetrics, type RenderedMetrics } from './render.js';
export { createBuildTracer, type BuildTracer, type BuildTracerOptions, type TimedSpan } from './traces.js';

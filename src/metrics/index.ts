export { DURATION_BUCKETS, METRICS, PULL_BUCKETS, renderMetrics, type RenderedMetrics } from './render.js';

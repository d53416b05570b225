/**
 * The Prometheus exposition of the build history (`stagecraft serve` → `/metrics`). A daemonless
 * builder has no process to scrape, so the metrics are computed from the history database at each
 * scrape: counters are totals over the recorded builds (removing records lowers them, which
 * Prometheus treats as a counter reset). Names follow BuildKit's (solver/llbsolver/metrics.go:
 * `buildkit.builds`, `buildkit.builds.steps`, `buildkit.build.duration`) in Prometheus form; the
 * list with each metric's meaning is `METRICS` below and docs/metrics.md.
 *
 * prom-client is loaded on the first render only (`import()`), so a build never loads it.
 */
import type { HistoryStore } from '../history/index.js';
import { historyTotals } from '../history/index.js';
import { SEVERITIES } from '../scan/index.js';

/** Every metric, declared once (docs/metrics.md lists the same; a test keeps them in sync). */
export const METRICS = {
  builds: { name: 'stagecraft_builds_total', type: 'counter', help: 'Recorded builds by project, target, status (success, failed, cancelled) and error code.' },
  steps: { name: 'stagecraft_build_steps_total', type: 'counter', help: 'Build steps by kind: completed (executed), cached (taken from the cache), total; and warnings.' },
  duration: { name: 'stagecraft_build_duration_seconds', type: 'histogram', help: 'Wall time of finished builds, by project and status.' },
  cacheHitRatio: { name: 'stagecraft_build_cache_hit_ratio', type: 'gauge', help: 'Steps taken from the cache / all steps, over the recorded builds of a project.' },
  imageSize: { name: 'stagecraft_image_size_bytes', type: 'gauge', help: 'Size of the latest successful build\'s image (manifest, config and layers) by project and target.' },
  attested: { name: 'stagecraft_image_attested', type: 'gauge', help: '1 when the latest successful build of a project and target has the attestation (kind: sbom, provenance, signature), else 0.' },
  vulnerabilities: { name: 'stagecraft_image_vulnerabilities', type: 'gauge', help: 'Vulnerabilities of the latest scanned build of a project and target, by severity.' },
  pushBytes: { name: 'stagecraft_push_bytes_total', type: 'counter', help: 'Bytes uploaded to registries by builds (image and cache blobs), by project.' },
  pullDuration: { name: 'stagecraft_base_image_pull_duration_seconds', type: 'histogram', help: 'Time to pull a base image in a build (first blob requested to last received), by project.' },
} as const;

export const DURATION_BUCKETS = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600];
export const PULL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export interface RenderedMetrics {
  readonly contentType: string;
  readonly body: string;
}

/** The exposition (Prometheus text format 0.0.4) of the history's metrics. */
export async function renderMetrics(store: HistoryStore): Promise<RenderedMetrics> {
  const prom = await import('prom-client');
  const totals = historyTotals(store);
  const registry = new prom.Registry();
  const registers = [registry];

  const builds = new prom.Counter({ name: METRICS.builds.name, help: METRICS.builds.help, labelNames: ['project', 'target', 'status', 'error_code'], registers });
  for (const b of totals.builds) builds.inc({ project: b.project, target: b.target, status: b.status, error_code: b.errorCode }, b.count);

  const steps = new prom.Counter({ name: METRICS.steps.name, help: METRICS.steps.help, labelNames: ['project', 'kind'], registers });
  const ratio = new prom.Gauge({ name: METRICS.cacheHitRatio.name, help: METRICS.cacheHitRatio.help, labelNames: ['project'], registers });
  for (const s of totals.steps) {
    steps.inc({ project: s.project, kind: 'completed' }, s.completed);
    steps.inc({ project: s.project, kind: 'cached' }, s.cached);
    steps.inc({ project: s.project, kind: 'total' }, s.total);
    steps.inc({ project: s.project, kind: 'warnings' }, s.warnings);
    if (s.total > 0) ratio.set({ project: s.project }, s.cached / s.total);
  }

  const duration = new prom.Histogram({ name: METRICS.duration.name, help: METRICS.duration.help, labelNames: ['project', 'status'], buckets: DURATION_BUCKETS, registers });
  for (const d of totals.durations) duration.observe({ project: d.project, status: d.status }, d.seconds);

  const size = new prom.Gauge({ name: METRICS.imageSize.name, help: METRICS.imageSize.help, labelNames: ['project', 'target'], registers });
  const attested = new prom.Gauge({ name: METRICS.attested.name, help: METRICS.attested.help, labelNames: ['project', 'target', 'kind'], registers });
  for (const l of totals.latest) {
    if (l.imageSize !== null) size.set({ project: l.project, target: l.target }, l.imageSize);
    // Unknown (a record from before supply-chain facts were kept) is left out, not reported as 0.
    if (l.sbom !== null) attested.set({ project: l.project, target: l.target, kind: 'sbom' }, Number(l.sbom));
    if (l.provenance !== null) attested.set({ project: l.project, target: l.target, kind: 'provenance' }, Number(l.provenance));
    if (l.signed !== null) attested.set({ project: l.project, target: l.target, kind: 'signature' }, Number(l.signed));
  }

  const vulns = new prom.Gauge({ name: METRICS.vulnerabilities.name, help: METRICS.vulnerabilities.help, labelNames: ['project', 'target', 'severity'], registers });
  for (const v of totals.vulnerabilities) {
    for (const severity of SEVERITIES) vulns.set({ project: v.project, target: v.target, severity: severity.toLowerCase() }, v.counts[severity]);
  }

  const push = new prom.Counter({ name: METRICS.pushBytes.name, help: METRICS.pushBytes.help, labelNames: ['project'], registers });
  for (const p of totals.pushBytes) push.inc({ project: p.project }, p.bytes);

  const pulls = new prom.Histogram({ name: METRICS.pullDuration.name, help: METRICS.pullDuration.help, labelNames: ['project'], buckets: PULL_BUCKETS, registers });
  for (const p of totals.pulls) pulls.observe({ project: p.project }, p.seconds);

  return { contentType: registry.contentType, body: await registry.metrics() };
}

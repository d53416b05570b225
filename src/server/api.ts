/**
 * The dashboard's JSON API (read-only): builds with filters and paging, one build with its steps,
 * warnings, logs and the build before it, layer sizes by Dockerfile line, stats and time series,
 * what on-call needs (failing now, failures by project, cache health, test-stage failures) and
 * the debug view's cache diagnostics. Query strings are parsed here, once, into typed filters.
 */
import { z } from 'zod';
import { StagecraftError } from '../core/index.js';
import { BUILD_STATUSES, type BuildRecord, type HistoryFilter, type HistoryQuery, type HistoryStore } from '../history/index.js';

export interface ApiDeps {
  readonly store: HistoryStore;
  readonly query: HistoryQuery;
  readonly clock: () => number;
  /** The SLI report (M1–M10) of the history, when the metrics module provides one. */
  readonly sli?: ((store: HistoryStore, query: { project?: string; target?: string; sinceMs?: number; untilMs?: number }) => unknown) | undefined;
  /** A trace viewer's URL with `{traceId}` in it (`serve --trace-url`): a build with a trace id links to it. */
  readonly traceUrl?: string | undefined;
}

/** The trace viewer's page of a trace: `{traceId}` in the template replaced. */
export function traceLink(template: string | undefined, traceId: string | undefined): string | null {
  return template === undefined || traceId === undefined ? null : template.replaceAll('{traceId}', encodeURIComponent(traceId));
}

const UNITS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000 };
const MAX_WINDOW = 3650 * 86_400_000;

/** "30d", "12h", "90m" → ms. */
export function parseWindow(text: string, name: string): number {
  const match = /^(\d{1,6})([mhd])$/.exec(text);
  const value = match === null ? Number.NaN : Number(match[1]) * (UNITS[match[2] ?? ''] ?? Number.NaN);
  if (!(value > 0) || value > MAX_WINDOW) throw new StagecraftError('USAGE', `invalid ${name} "${text}"`, { hint: `give a duration such as 90m, 24h or 30d (at most 3650d)` });
  return value;
}

const Paging = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
});
const Filter = z.object({
  status: z.enum(BUILD_STATUSES).optional(),
  project: z.string().max(4096).optional(),
  target: z.string().max(1024).optional(),
  since: z.coerce.number().int().min(0).optional(),
  until: z.coerce.number().int().min(0).optional(),
  window: z.string().max(16).optional(),
  bucket: z.string().max(16).optional(),
});

function parse<T>(schema: z.ZodType<T>, params: URLSearchParams): T {
  const result = schema.safeParse(Object.fromEntries(params));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new StagecraftError('USAGE', `invalid query parameter ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`, { hint: 'see docs/dashboard.md for the API parameters' });
  }
  return result.data;
}

interface Window {
  readonly filter: HistoryFilter;
  readonly sinceMs: number;
  readonly untilMs: number;
  readonly bucketMs: number;
}

function windowOf(params: URLSearchParams, now: number, defaultWindow: string): Window {
  const f = parse(Filter, params);
  const untilMs = f.until ?? now + 1;
  const sinceMs = f.since ?? untilMs - parseWindow(f.window ?? defaultWindow, 'window');
  const span = Math.max(1, untilMs - sinceMs);
  // About 30 points per chart unless asked otherwise: a minute, an hour or a day, whichever fits.
  const bucketMs = f.bucket !== undefined ? parseWindow(f.bucket, 'bucket') : [60_000, 600_000, 3_600_000, 21_600_000, 86_400_000, 604_800_000].find((b) => span / b <= 60) ?? 604_800_000;
  return { filter: { status: f.status, project: f.project, target: f.target, sinceMs, untilMs }, sinceMs, untilMs, bucketMs };
}

export function listBuilds(deps: ApiDeps, params: URLSearchParams): unknown {
  const paging = parse(Paging, params);
  const f = parse(Filter, params);
  const page = deps.query.page({ status: f.status, project: f.project, target: f.target, sinceMs: f.since, untilMs: f.until }, paging.limit, paging.offset);
  return { total: page.total, limit: paging.limit, offset: paging.offset, builds: page.builds };
}

function found(deps: ApiDeps, ref: string): NonNullable<ReturnType<HistoryStore['get']>> {
  const build = deps.store.get(deps.store.resolve(ref));
  if (build === undefined) throw new StagecraftError('NOT_FOUND', `no build ${ref} in the history`, { hint: 'list the builds at /api/builds' });
  return build;
}

export function showBuild(deps: ApiDeps, ref: string): unknown {
  const record = found(deps, ref);
  const names = new Map(record.steps.map((s) => [s.seq, s.name]));
  const logs = deps.store.logs(record.build.id).map((l) => ({ seq: l.seq, name: names.get(l.seq) ?? '', text: l.text }));
  const previous = deps.query.previous(record.build);
  const before = previous === undefined ? undefined : deps.store.get(previous.id);
  return { ...record, logs, traceUrl: traceLink(deps.traceUrl, record.build.traceId), previous: before === undefined ? null : { build: before.build, steps: before.steps } };
}

export function buildLayers(deps: ApiDeps, ref: string): unknown {
  const { build, steps } = found(deps, ref);
  const layers = steps.filter((s) => s.layer !== undefined).map((s) => ({
    seq: s.seq, name: s.name, stage: s.stage ?? null, status: s.status,
    file: s.location?.file ?? null, line: s.location?.line ?? null,
    digest: s.layer?.digest ?? '', size: s.layer?.size ?? 0,
  }));
  return { build: build.id, imageSize: build.image?.size ?? null, total: layers.reduce((sum, l) => sum + l.size, 0), layers };
}

function rate(part: number, whole: number): number | null {
  return whole === 0 ? null : part / whole;
}

export function stats(deps: ApiDeps, params: URLSearchParams): unknown {
  const w = windowOf(params, deps.clock(), '30d');
  const series = deps.query.series(w.filter, w.bucketMs);
  const [overall] = deps.query.series(w.filter, w.untilMs - w.sinceMs + 1);
  const total = overall?.total ?? 0;
  const steps = (overall?.stepsCached ?? 0) + (overall?.stepsExecuted ?? 0);
  const summary = {
    total, success: overall?.success ?? 0, failed: overall?.failed ?? 0, cancelled: overall?.cancelled ?? 0,
    successRate: rate(overall?.success ?? 0, total), p50Ms: overall?.p50Ms ?? null, p95Ms: overall?.p95Ms ?? null,
    cacheHitRate: rate(overall?.stepsCached ?? 0, steps),
  };
  const query = { ...(w.filter.project === undefined ? {} : { project: w.filter.project }), ...(w.filter.target === undefined ? {} : { target: w.filter.target }), sinceMs: w.sinceMs, untilMs: w.untilMs };
  return {
    sinceMs: w.sinceMs, untilMs: w.untilMs, bucketMs: w.bucketMs, summary, series,
    projects: deps.query.projects(w.filter),
    imageSizes: deps.query.imageSizes(w.filter, w.bucketMs),
    sli: deps.sli === undefined ? null : deps.sli(deps.store, query),
  };
}

export function oncall(deps: ApiDeps, params: URLSearchParams): unknown {
  const w = windowOf(params, deps.clock(), '7d');
  const failing = deps.query.failing(w.filter);
  const steps = deps.query.failedSteps({ ...w.filter, status: 'failed' }, 500);
  const firstFailed = new Map<string, (typeof steps)[number]>();
  for (const step of steps) if (!firstFailed.has(step.buildId)) firstFailed.set(step.buildId, step);
  const failures = deps.query.page({ ...w.filter, status: 'failed' }, 500, 0);
  const byProject = new Map<string, { project: string; count: number; builds: BuildRecord[] }>();
  for (const build of failures.builds) {
    let group = byProject.get(build.project);
    if (group === undefined) byProject.set(build.project, (group = { project: build.project, count: 0, builds: [] }));
    group.count++;
    if (group.builds.length < 5) group.builds.push(build);
  }
  const [overall] = deps.query.series(w.filter, w.untilMs - w.sinceMs + 1);
  const cached = overall?.stepsCached ?? 0;
  const executed = overall?.stepsExecuted ?? 0;
  return {
    sinceMs: w.sinceMs, untilMs: w.untilMs,
    failing: failing.map((build) => ({ build, failedStep: firstFailed.get(build.id) ?? null })),
    failuresByProject: [...byProject.values()].sort((a, b) => b.count - a.count || a.project.localeCompare(b.project)),
    cache: { cached, executed, hitRate: rate(cached, cached + executed), errors: deps.query.cacheWarnings(w.filter, 50) },
    testFailures: deps.query.testFailures(w.filter, 50),
  };
}

export function debugView(deps: ApiDeps, params: URLSearchParams): unknown {
  const w = windowOf(params, deps.clock(), '7d');
  const recent = deps.query.page(w.filter, 20, 0).builds;
  const last = deps.query.lastSuccess({ project: w.filter.project, target: w.filter.target });
  return {
    sinceMs: w.sinceMs, untilMs: w.untilMs,
    recent,
    cache: { keys: deps.query.cacheKeys(w.filter, 50), reasons: deps.query.missReasons(w.filter, 20) },
    lastSuccess: last === undefined ? null : { build: last },
  };
}

/**
 * The dashboard's reads over the history tables: pages of builds, time series (success rate,
 * p50/p95 build time, image size, cache hit rate), what is failing now, cache diagnostics. Each is
 * one SQL statement over the indexed columns (SQLite's `median`/`percentile` for the quantiles), so a
 * history of 10,000 builds answers in milliseconds. Rows are parsed with zod as everywhere else.
 */
import { z } from 'zod';
import type { Database, TypedStatement } from '../db/index.js';
import { BUILD_STATUSES, type BuildRecord, type BuildStatus } from './types.js';
import { BuildRow, toBuild } from './store.js';

export interface HistoryFilter {
  readonly project?: string | undefined;
  readonly target?: string | undefined;
  readonly status?: BuildStatus | undefined;
  /** Builds started at or after (epoch ms). */
  readonly sinceMs?: number | undefined;
  /** Builds started before (epoch ms). */
  readonly untilMs?: number | undefined;
}

export interface BuildPage {
  readonly total: number;
  readonly builds: readonly BuildRecord[];
}

export interface SeriesPoint {
  /** Start of the bucket (epoch ms). */
  readonly start: number;
  readonly total: number;
  readonly success: number;
  readonly failed: number;
  readonly cancelled: number;
  /** Median and 95th percentile of successful builds' wall time (ms), null when none succeeded. */
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  /** Mean size of the images built (bytes), null when none. */
  readonly imageSize: number | null;
  readonly stepsCached: number;
  readonly stepsExecuted: number;
}

export interface ProjectSummary {
  readonly project: string;
  readonly target: string;
  readonly total: number;
  readonly success: number;
  readonly p50Ms: number | null;
  readonly p95Ms: number | null;
  readonly lastStartedAt: number;
  readonly lastStatus: BuildStatus;
}

export interface FailedStep {
  readonly buildId: string;
  readonly seq: number;
  readonly name: string;
  readonly stage: string | null;
  readonly exitCode: number | null;
  readonly error: string | null;
}

export interface CacheKeyStats {
  readonly project: string;
  readonly vertex: string;
  /** The step's cache key (`sha256:…`); null for steps recorded without one (records from before keys were kept). */
  readonly cacheKey: string | null;
  readonly name: string;
  /** Builds of the window that had this step with this key. */
  readonly builds: number;
  readonly hits: number;
  readonly misses: number;
  readonly lastSeenAt: number;
  /** The miss reasons of the latest miss. */
  readonly lastMissReasons: readonly string[];
}

const int = z.number().int();
const num = z.number();
const Count = z.object({ n: int });
const Point = z.object({ bucket: int, total: int, success: int, failed: int, cancelled: int, p50: num.nullable(), p95: num.nullable(), size: num.nullable(), cached: int, executed: int });
const Summary = z.object({ project: z.string(), target: z.string(), total: int, success: int, p50: num.nullable(), p95: num.nullable(), last: int, last_status: z.enum(BUILD_STATUSES) });
const SizePoint = z.object({ project: z.string(), target: z.string(), bucket: int, size: num });
const Failed = z.object({ build_id: z.string(), seq: int, name: z.string(), stage: z.string().nullable(), exit_code: int.nullable(), error: z.string().nullable() });
const Reason = z.object({ reason: z.string(), n: int });
const KeyRow = z.object({ project: z.string(), vertex: z.string(), cache_key: z.string().nullable(), name: z.string(), builds: int, hits: int, misses: int, last: int, reasons: z.string().nullable() });
const WarningHit = z.object({ build_id: z.string(), project: z.string(), started_at: int, message: z.string() });
const Reasons = z.array(z.string());

type P = Record<string, string | number | null>;
// Every statement names history_builds `b`.
const WHERE = `(@status IS NULL OR b.status = @status) AND (@project IS NULL OR b.project = @project) AND (@target IS NULL OR b.target = @target)
  AND b.started_at >= @since AND b.started_at < @until`;
const SUCCESS_MS = "CASE WHEN b.status = 'success' THEN b.ended_at - b.started_at END";

type FilterParams = { status: string | null; project: string | null; target: string | null; since: number; until: number };
function params(filter: HistoryFilter): FilterParams {
  return {
    status: filter.status ?? null, project: filter.project ?? null, target: filter.target ?? null,
    since: Math.trunc(filter.sinceMs ?? 0), until: Math.trunc(filter.untilMs ?? Number.MAX_SAFE_INTEGER),
  };
}

export class HistoryQuery {
  readonly #page: TypedStatement<P, BuildRow>;
  readonly #count: TypedStatement<P, z.infer<typeof Count>>;
  readonly #series: TypedStatement<P, z.infer<typeof Point>>;
  readonly #summary: TypedStatement<P, z.infer<typeof Summary>>;
  readonly #sizes: TypedStatement<P, z.infer<typeof SizePoint>>;
  readonly #failing: TypedStatement<P, BuildRow>;
  readonly #failedSteps: TypedStatement<P, z.infer<typeof Failed>>;
  readonly #testFailures: TypedStatement<P, z.infer<typeof Failed>>;
  readonly #reasons: TypedStatement<P, z.infer<typeof Reason>>;
  readonly #keys: TypedStatement<P, z.infer<typeof KeyRow>>;
  readonly #cacheWarnings: TypedStatement<P, z.infer<typeof WarningHit>>;
  readonly #previous: TypedStatement<P, BuildRow>;
  readonly #lastSuccess: TypedStatement<P, BuildRow>;

  /** `db` must hold the history tables (open a `HistoryStore` on it first: it applies the migrations). */
  constructor(db: Database) {
    this.#page = db.statement(`SELECT b.* FROM history_builds b WHERE ${WHERE} ORDER BY b.started_at DESC, b.id LIMIT @limit OFFSET @offset`, BuildRow);
    this.#count = db.statement(`SELECT count(*) AS n FROM history_builds b WHERE ${WHERE}`, Count);
    this.#series = db.statement(`SELECT CAST((b.started_at - @since) / @bucket AS INTEGER) AS bucket, count(*) AS total,
      sum(status = 'success') AS success, sum(status = 'failed') AS failed, sum(status = 'cancelled') AS cancelled,
      median(${SUCCESS_MS}) AS p50, percentile(${SUCCESS_MS}, 95) AS p95, avg(b.image_size) AS size,
      sum(b.steps_cached) AS cached, sum(b.steps_executed) AS executed
      FROM history_builds b WHERE ${WHERE} GROUP BY bucket ORDER BY bucket`, Point);
    this.#summary = db.statement(`SELECT project, target, count(*) AS total, sum(status = 'success') AS success,
      median(${SUCCESS_MS}) AS p50, percentile(${SUCCESS_MS}, 95) AS p95, max(started_at) AS last,
      (SELECT l.status FROM history_builds l WHERE l.project = b.project AND l.target = b.target ORDER BY l.started_at DESC, l.id LIMIT 1) AS last_status
      FROM history_builds b WHERE ${WHERE} GROUP BY project, target ORDER BY project, target`, Summary);
    this.#sizes = db.statement(`SELECT project, target, CAST((b.started_at - @since) / @bucket AS INTEGER) AS bucket, avg(image_size) AS size
      FROM history_builds b WHERE ${WHERE} AND b.image_size IS NOT NULL GROUP BY b.project, b.target, bucket ORDER BY b.project, b.target, bucket`, SizePoint);
    // The latest build of each project and target, when it failed: what is broken now.
    this.#failing = db.statement(`SELECT b.* FROM history_builds b
      JOIN (SELECT b.project, b.target, max(b.started_at) AS m FROM history_builds b WHERE ${WHERE} GROUP BY b.project, b.target) l
        ON b.project = l.project AND b.target = l.target AND b.started_at = l.m
      WHERE b.status = 'failed' ORDER BY b.started_at DESC`, BuildRow);
    this.#failedSteps = db.statement(`SELECT s.build_id, s.seq, s.name, s.stage, s.exit_code, s.error FROM history_steps s
      WHERE s.build_id IN (SELECT b.id FROM history_builds b WHERE ${WHERE} ORDER BY b.started_at DESC LIMIT @limit) AND s.status = 'failed' ORDER BY s.build_id, s.seq`, Failed);
    this.#testFailures = db.statement(`SELECT s.build_id, s.seq, s.name, s.stage, s.exit_code, s.error FROM history_builds b JOIN history_steps s ON s.build_id = b.id
      WHERE ${WHERE} AND s.status = 'failed' AND (lower(coalesce(s.stage, '')) LIKE '%test%' OR lower(s.name) LIKE '%test%')
      ORDER BY b.started_at DESC LIMIT @limit`, Failed);
    this.#reasons = db.statement(`SELECT j.value AS reason, count(*) AS n FROM history_builds b JOIN history_steps s ON s.build_id = b.id, json_each(s.miss_reasons) j
      WHERE ${WHERE} AND s.miss_reasons IS NOT NULL GROUP BY j.value ORDER BY n DESC, reason LIMIT @limit`, Reason);
    // The latest miss's reasons by SQLite's bare-column rule (a bare column of a max() aggregate comes
    // from the row holding the max), not a correlated subquery per vertex (no index on vertex).
    // One row per project, step vertex and cache key: in how many builds the key was seen (a build records a
    // vertex once, so a row per build), hit, missed; the latest miss's reasons only for the rows shown.
    this.#keys = db.statement(`WITH s AS MATERIALIZED (
        SELECT b.project, s.build_id, s.vertex, s.cache_key, s.name, s.status, s.miss_reasons, b.started_at FROM history_builds b JOIN history_steps s ON s.build_id = b.id WHERE ${WHERE}
      ), agg AS (
        SELECT project, vertex, cache_key, max(name) AS name, count(*) AS builds, sum(status = 'cached') AS hits,
          sum(status IN ('done', 'failed')) AS misses, max(started_at) AS last
        FROM s GROUP BY project, vertex, cache_key ORDER BY last DESC, vertex LIMIT @limit
      ), latest AS (
        SELECT s.project, s.vertex, s.cache_key, s.miss_reasons AS reasons, max(s.started_at) FROM s
        JOIN agg ON agg.project = s.project AND agg.vertex = s.vertex AND agg.cache_key IS s.cache_key
        WHERE s.miss_reasons IS NOT NULL GROUP BY s.project, s.vertex, s.cache_key
      )
      SELECT agg.project, agg.vertex, agg.cache_key, agg.name, agg.builds, agg.hits, agg.misses, agg.last, latest.reasons FROM agg
      LEFT JOIN latest ON latest.project = agg.project AND latest.vertex = agg.vertex AND latest.cache_key IS agg.cache_key
      ORDER BY agg.last DESC, agg.vertex, agg.cache_key`, KeyRow);
    this.#cacheWarnings = db.statement(`SELECT w.build_id, b.project, b.started_at, w.message FROM history_builds b JOIN history_warnings w ON w.build_id = b.id
      WHERE ${WHERE} AND lower(w.message) LIKE '%cache%' ORDER BY b.started_at DESC, w.seq LIMIT @limit`, WarningHit);
    this.#previous = db.statement(`SELECT * FROM history_builds WHERE project = @project AND target = @target AND dockerfile = @dockerfile
      AND (started_at < @started OR (started_at = @started AND id < @id)) ORDER BY started_at DESC, id DESC LIMIT 1`, BuildRow);
    this.#lastSuccess = db.statement(`SELECT b.* FROM history_builds b WHERE ${WHERE} AND b.status = 'success' ORDER BY b.started_at DESC, b.id LIMIT 1`, BuildRow);
  }

  /** Builds newest first, `limit` from `offset`, and how many match. */
  page(filter: HistoryFilter, limit: number, offset: number): BuildPage {
    const p = params(filter);
    return { total: this.#count.get(p)?.n ?? 0, builds: this.#page.all({ ...p, limit, offset }).map(toBuild) };
  }

  /** Buckets of `bucketMs` from `filter.sinceMs` (empty buckets are left out). */
  series(filter: HistoryFilter, bucketMs: number): SeriesPoint[] {
    const p = { ...params(filter), bucket: Math.max(1, Math.trunc(bucketMs)) };
    const since = p.since;
    return this.#series.all(p).map((r) => ({
      start: since + r.bucket * p.bucket, total: r.total, success: r.success, failed: r.failed, cancelled: r.cancelled,
      p50Ms: r.p50, p95Ms: r.p95, imageSize: r.size, stepsCached: r.cached, stepsExecuted: r.executed,
    }));
  }

  /** Per project and target: builds, successes, p50/p95 of successful builds, the latest build's status. */
  projects(filter: HistoryFilter): ProjectSummary[] {
    return this.#summary.all(params(filter)).map((r) => ({
      project: r.project, target: r.target, total: r.total, success: r.success, p50Ms: r.p50, p95Ms: r.p95, lastStartedAt: r.last, lastStatus: r.last_status,
    }));
  }

  /** Mean image size per project, target and bucket. */
  imageSizes(filter: HistoryFilter, bucketMs: number): { project: string; target: string; points: { start: number; size: number }[] }[] {
    const p = { ...params(filter), bucket: Math.max(1, Math.trunc(bucketMs)) };
    const out = new Map<string, { project: string; target: string; points: { start: number; size: number }[] }>();
    for (const r of this.#sizes.all(p)) {
      const key = JSON.stringify([r.project, r.target]);
      let entry = out.get(key);
      if (entry === undefined) out.set(key, (entry = { project: r.project, target: r.target, points: [] }));
      entry.points.push({ start: p.since + r.bucket * p.bucket, size: r.size });
    }
    return [...out.values()];
  }

  /** The builds whose project and target's latest build failed. */
  failing(filter: HistoryFilter): BuildRecord[] {
    return this.#failing.all(params(filter)).map(toBuild);
  }

  /** The failed steps of the newest `limit` builds matching the filter. */
  failedSteps(filter: HistoryFilter, limit: number): FailedStep[] {
    return this.#failedSteps.all({ ...params(filter), limit }).map(toFailed);
  }

  /** Failed steps of a test stage (stage or step name containing "test"): failures that block a build. */
  testFailures(filter: HistoryFilter, limit: number): FailedStep[] {
    return this.#testFailures.all({ ...params(filter), limit }).map(toFailed);
  }

  /** The most frequent cache-miss reasons. */
  missReasons(filter: HistoryFilter, limit: number): { reason: string; count: number }[] {
    return this.#reasons.all({ ...params(filter), limit }).map((r) => ({ reason: r.reason, count: r.n }));
  }

  /** Per project, step vertex and cache key: builds seen in, hits, misses and the latest miss's reasons, most recently seen first. */
  cacheKeys(filter: HistoryFilter, limit: number): CacheKeyStats[] {
    return this.#keys.all({ ...params(filter), limit }).map((r) => ({
      project: r.project, vertex: r.vertex, cacheKey: r.cache_key, name: r.name, builds: r.builds, hits: r.hits, misses: r.misses, lastSeenAt: r.last,
      lastMissReasons: r.reasons === null ? [] : Reasons.parse(JSON.parse(r.reasons)),
    }));
  }

  /** Warnings about the cache (an unreachable cache source, a corrupt cache record, …). */
  cacheWarnings(filter: HistoryFilter, limit: number): { buildId: string; project: string; startedAt: number; message: string }[] {
    return this.#cacheWarnings.all({ ...params(filter), limit }).map((r) => ({ buildId: r.build_id, project: r.project, startedAt: r.started_at, message: r.message }));
  }

  /** The build before `build` of the same project, target and Dockerfile. */
  previous(build: BuildRecord): BuildRecord | undefined {
    const row = this.#previous.get({ project: build.project, target: build.target, dockerfile: build.dockerfile, started: build.startedAt, id: build.id });
    return row === undefined ? undefined : toBuild(row);
  }

  lastSuccess(filter: HistoryFilter): BuildRecord | undefined {
    const row = this.#lastSuccess.get(params(filter));
    return row === undefined ? undefined : toBuild(row);
  }
}

function toFailed(r: z.infer<typeof Failed>): FailedStep {
  return { buildId: r.build_id, seq: r.seq, name: r.name, stage: r.stage, exitCode: r.exit_code, error: r.error };
}

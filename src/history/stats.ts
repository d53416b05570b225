/**
 * The build SLIs (issue 17: M1–M10) as SQL over the history: one aggregate query for the build
 * counts, times and coverage, a few small ones for the latest image and scan, pull latencies and the
 * time to fix. p50/p95 are SQLite's `median` / `percentile` (better-sqlite3's SQLite is compiled with
 * SQLITE_ENABLE_PERCENTILE). `null` means "no data in the window", never 0.
 *
 * Definitions (docs/metrics.md):
 * - M1 success rate: successful / (successful + failed) builds; cancelled builds are counted apart.
 * - M2 build time: wall time (end − start) of successful builds: p50, p95, mean.
 * - M3 cache hit rate: steps taken from the cache / all steps, over every build in the window.
 * - M4 image size: the latest successful build's image (manifest + config + layers), the first in the
 *   window, the change, and the latest 30 points.
 * - M5 CVEs: counts by severity of the latest build scanned for vulnerabilities.
 * - M6 time to fix: per project and target, from the end of the first failed build after a success
 *   (or the first build) to the end of the next successful build; builds still broken are `open`.
 * - M7 promotion rate: a builder cannot know it; CIs tell it (`stagecraft history annotate`).
 * - M8 SBOM completeness: successful builds with an SBOM / successful builds whose facts are known;
 *   packages with a purl / a declared license.
 * - M9 base image pull latency: per base image pulled in a build, first blob requested to last
 *   received (blobs already in the store do not count).
 * - M10 provenance (and signature) coverage: successful builds with provenance (signed) / known.
 */
import { z } from 'zod';
import type { Database } from '../db/index.js';
import { SEVERITIES, type Severity } from '../scan/index.js';
import type { HistoryStore } from './store.js';

export interface SliQuery {
  readonly project?: string | undefined;
  readonly target?: string | undefined;
  /** Builds started at or after (epoch ms). */
  readonly sinceMs?: number | undefined;
  /** Builds started before (epoch ms). */
  readonly untilMs?: number | undefined;
}

/** A share with what it is made of (`value` null when the denominator is 0). */
export interface Ratio {
  readonly value: number | null;
  readonly numerator: number;
  readonly denominator: number;
}

export interface Distribution {
  readonly count: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly mean: number | null;
}

export interface SliReport {
  readonly query: { readonly project: string | null; readonly target: string | null; readonly sinceMs: number | null; readonly untilMs: number | null };
  readonly builds: { readonly total: number; readonly success: number; readonly failed: number; readonly cancelled: number };
  /** Failed builds by error code (`unknown` when the error had none), most frequent first. */
  readonly failures: readonly { readonly code: string; readonly count: number }[];
  /** M1. */
  readonly successRate: Ratio;
  /** M2, in ms. */
  readonly buildTimeMs: Distribution;
  /** M3. */
  readonly cacheHitRate: Ratio;
  /** M4, in bytes. */
  readonly imageSize: {
    readonly latest: { readonly id: string; readonly startedAt: number; readonly bytes: number } | null;
    readonly first: { readonly id: string; readonly startedAt: number; readonly bytes: number } | null;
    /** latest − first. */
    readonly change: number | null;
    /** The latest 30 successful builds' sizes, oldest first. */
    readonly series: readonly { readonly id: string; readonly startedAt: number; readonly bytes: number }[];
  };
  /** M5: the latest scanned build; null when no build in the window was scanned. */
  readonly vulnerabilities: { readonly id: string; readonly startedAt: number; readonly hasData: boolean; readonly counts: Readonly<Record<Severity, number>>; readonly total: number } | null;
  /** M6, in ms. */
  readonly timeToFixMs: { readonly fixed: number; readonly open: number; readonly mean: number | null; readonly median: number | null };
  /** M7. */
  readonly promotionRate: { readonly status: 'unknown'; readonly reason: string } | { readonly status: 'known'; readonly rate: Ratio };
  /** M8. */
  readonly sbom: { readonly coverage: Ratio; readonly packages: number; readonly withPurl: Ratio; readonly withLicense: Ratio };
  /** M9, in ms. */
  readonly pullLatencyMs: Distribution;
  /** M10. */
  readonly provenanceCoverage: Ratio;
  readonly signatureCoverage: Ratio;
}

export const PROMOTION_UNKNOWN_REASON =
  'a builder cannot know whether its image was promoted (deployed, released); a CI records it with `stagecraft history annotate BUILD promoted=true|false`';

const num = z.number();
const count = z.number().int();
const nullableNum = num.nullable();
const Totals = z.object({
  total: count, success: count, failed: count, cancelled: count,
  p50: nullableNum, p95: nullableNum, mean: nullableNum,
  steps_cached: num, steps_total: num,
  promo_known: num, promoted: num,
  sc_known: num, with_sbom: num, with_prov: num, signed: num,
  pkgs: num, purl: num, license: num,
});
const Failure = z.object({ code: z.string(), count });
const SizeRow = z.object({ id: z.string(), started_at: count, image_size: count });
const VulnRow = z.object({
  id: z.string(), started_at: count, vulns_data: count.nullable(),
  vulns_critical: count.nullable(), vulns_high: count.nullable(), vulns_medium: count.nullable(), vulns_low: count.nullable(), vulns_unknown: count.nullable(),
});
const DistRow = z.object({ n: count, p50: nullableNum, p95: nullableNum, mean: nullableNum });
const FixRow = z.object({ fixed: count, open: count, mean: nullableNum, median: nullableNum });

type Params = { project: string | null; target: string | null; since: number; until: number };

const WHERE = `(@project IS NULL OR project = @project) AND (@target IS NULL OR target = @target) AND started_at >= @since AND started_at < @until`;

const TOTALS = `count(*) AS total,
        count(CASE WHEN status = 'success' THEN 1 END) AS success,
        count(CASE WHEN status = 'failed' THEN 1 END) AS failed, count(CASE WHEN status = 'cancelled' THEN 1 END) AS cancelled,
        median(CASE WHEN status = 'success' THEN ended_at - started_at END) AS p50,
        percentile(CASE WHEN status = 'success' THEN ended_at - started_at END, 95) AS p95,
        avg(CASE WHEN status = 'success' THEN ended_at - started_at END) AS mean,
        total(steps_cached) AS steps_cached, total(steps_total) AS steps_total,
        total(status = 'success' AND promoted IS NOT NULL) AS promo_known, total(status = 'success' AND promoted = 1) AS promoted,
        total(status = 'success' AND sbom IS NOT NULL) AS sc_known, total(status = 'success' AND sbom = 1) AS with_sbom,
        total(status = 'success' AND provenance = 1) AS with_prov, total(status = 'success' AND signed = 1) AS signed,
        total(CASE WHEN status = 'success' THEN sbom_packages END) AS pkgs, total(CASE WHEN status = 'success' THEN sbom_purl END) AS purl,
        total(CASE WHEN status = 'success' THEN sbom_license END) AS license`;

// M6: per project and target in start order, `run` counts the successes so far: run k holds the k-th
// success and the failures after it, so those failures are fixed by the success of run k + 1.
const FIX_RUNS = `WITH b AS (
        SELECT project, target, ended_at, status,
          count(CASE WHEN status = 'success' THEN 1 END) OVER (PARTITION BY project, target ORDER BY started_at, id ROWS UNBOUNDED PRECEDING) AS run
        FROM history_builds WHERE status IN ('success', 'failed') AND ${WHERE}
      ), runs AS (
        SELECT project, target, run, min(CASE WHEN status = 'failed' THEN ended_at END) AS broke, max(CASE WHEN status = 'success' THEN ended_at END) AS ok
        FROM b GROUP BY project, target, run
`;

function statements(db: Database) {
  return {
    totals: db.statement<Params, z.infer<typeof Totals>>(`SELECT ${TOTALS}
      FROM history_builds WHERE ${WHERE}`, Totals),
    failures: db.statement<Params, z.infer<typeof Failure>>(`SELECT coalesce(error_code, 'unknown') AS code, count(*) AS count FROM history_builds
      WHERE status = 'failed' AND ${WHERE} GROUP BY 1 ORDER BY 2 DESC, 1`, Failure),
    sizes: db.statement<Params, z.infer<typeof SizeRow>>(`SELECT id, started_at, image_size FROM history_builds
      WHERE status = 'success' AND image_size IS NOT NULL AND ${WHERE} ORDER BY started_at DESC, id DESC LIMIT 30`, SizeRow),
    firstSize: db.statement<Params, z.infer<typeof SizeRow>>(`SELECT id, started_at, image_size FROM history_builds
      WHERE status = 'success' AND image_size IS NOT NULL AND ${WHERE} ORDER BY started_at, id LIMIT 1`, SizeRow),
    vulns: db.statement<Params, z.infer<typeof VulnRow>>(`SELECT id, started_at, vulns_data, vulns_critical, vulns_high, vulns_medium, vulns_low, vulns_unknown
      FROM history_builds WHERE vulns_scanned = 1 AND ${WHERE} ORDER BY started_at DESC, id DESC LIMIT 1`, VulnRow),
    pulls: db.statement<Params, z.infer<typeof DistRow>>(`SELECT count(*) AS n, median(p.duration_ms) AS p50, percentile(p.duration_ms, 95) AS p95, avg(p.duration_ms) AS mean
      FROM history_pulls p JOIN history_builds b ON b.id = p.build_id
      WHERE (@project IS NULL OR b.project = @project) AND (@target IS NULL OR b.target = @target) AND b.started_at >= @since AND b.started_at < @until`, DistRow),
    fix: db.statement<Params, z.infer<typeof FixRow>>(`${FIX_RUNS}      ), fixes AS (
        SELECT broke, lead(ok) OVER (PARTITION BY project, target ORDER BY run) AS fixed FROM runs
      )
      SELECT count(fixed) AS fixed, count(*) - count(fixed) AS open, avg(fixed - broke) AS mean, median(fixed - broke) AS median
      FROM fixes WHERE broke IS NOT NULL`, FixRow),
  };
}

// historyStatsBy: the same statements once over every group (not once per group). `g_project` and
// `g_target` name the group (`g_target` is '' when grouping by project only).
const GROUP = `project AS g_project, CASE WHEN @by = 'target' THEN target ELSE '' END AS g_target`;
const Group = { g_project: z.string(), g_target: z.string() };
type ByParams = Params & { by: string };

function groupedStatements(db: Database) {
  const totals = Totals.extend(Group);
  const failure = Failure.extend(Group);
  const size = SizeRow.extend(Group);
  const vuln = VulnRow.extend(Group);
  const dist = DistRow.extend(Group);
  const fix = FixRow.extend(Group);
  // The `n`-th rows of each group in `order` (a window function instead of a query per group).
  const ranked = (columns: string, where: string, order: string, n: number): string => `SELECT * FROM (
      SELECT ${GROUP}, ${columns}, row_number() OVER (PARTITION BY project, CASE WHEN @by = 'target' THEN target ELSE '' END ORDER BY ${order}) AS rn
      FROM history_builds WHERE ${where} AND ${WHERE}
    ) WHERE rn <= ${n} ORDER BY g_project, g_target, rn`;
  return {
    totals: db.statement<ByParams, z.infer<typeof totals>>(`SELECT ${GROUP}, ${TOTALS}
      FROM history_builds WHERE ${WHERE} GROUP BY g_project, g_target ORDER BY g_project, g_target`, totals),
    failures: db.statement<ByParams, z.infer<typeof failure>>(`SELECT ${GROUP}, coalesce(error_code, 'unknown') AS code, count(*) AS count FROM history_builds
      WHERE status = 'failed' AND ${WHERE} GROUP BY g_project, g_target, code ORDER BY g_project, g_target, count DESC, code`, failure),
    sizes: db.statement<ByParams, z.infer<typeof size>>(ranked('id, started_at, image_size', "status = 'success' AND image_size IS NOT NULL", 'started_at DESC, id DESC', 30), size),
    firstSize: db.statement<ByParams, z.infer<typeof size>>(ranked('id, started_at, image_size', "status = 'success' AND image_size IS NOT NULL", 'started_at, id', 1), size),
    vulns: db.statement<ByParams, z.infer<typeof vuln>>(ranked('id, started_at, vulns_data, vulns_critical, vulns_high, vulns_medium, vulns_low, vulns_unknown', 'vulns_scanned = 1', 'started_at DESC, id DESC', 1), vuln),
    pulls: db.statement<ByParams, z.infer<typeof dist>>(`SELECT b.project AS g_project, CASE WHEN @by = 'target' THEN b.target ELSE '' END AS g_target,
        count(*) AS n, median(p.duration_ms) AS p50, percentile(p.duration_ms, 95) AS p95, avg(p.duration_ms) AS mean
      FROM history_pulls p JOIN history_builds b ON b.id = p.build_id
      WHERE (@project IS NULL OR b.project = @project) AND (@target IS NULL OR b.target = @target) AND b.started_at >= @since AND b.started_at < @until
      GROUP BY g_project, g_target`, dist),
    fix: db.statement<ByParams, z.infer<typeof fix>>(`${FIX_RUNS}      ), fixes AS (
        SELECT project, target, broke, lead(ok) OVER (PARTITION BY project, target ORDER BY run) AS fixed FROM runs
      )
      SELECT ${GROUP}, count(fixed) AS fixed, count(*) - count(fixed) AS open, avg(fixed - broke) AS mean, median(fixed - broke) AS median
      FROM fixes WHERE broke IS NOT NULL GROUP BY g_project, g_target`, fix),
  };
}

/** `make(db)`, prepared once per database. */
function preparedOnce<T>(make: (db: Database) => T): (store: HistoryStore) => T {
  const prepared = new WeakMap<Database, T>();
  return (store) => {
    const db = store.database;
    let found = prepared.get(db);
    if (found === undefined) {
      found = make(db);
      prepared.set(db, found);
    }
    return found;
  };
}

const statementsOf = preparedOnce(statements);
const groupedStatementsOf = preparedOnce(groupedStatements);

const ratio = (numerator: number, denominator: number): Ratio => ({ value: denominator > 0 ? numerator / denominator : null, numerator, denominator });

function params(query: SliQuery): Params {
  return {
    project: query.project ?? null,
    target: query.target ?? null,
    since: query.sinceMs ?? Number.MIN_SAFE_INTEGER,
    until: query.untilMs ?? Number.MAX_SAFE_INTEGER,
  };
}

/** The SLIs of the builds matching `query` (all builds when it is empty). */
export function historyStats(store: HistoryStore, query: SliQuery): SliReport {
  const s = statementsOf(store);
  const p = params(query);
  return store.database.readTransaction(() => {
    const t = s.totals.get(p);
    if (t === undefined) throw new Error('history stats: the aggregate returned no row');
    return toReport(query, p, { totals: t, failures: s.failures.all(p), sizes: s.sizes.all(p), firstSize: s.firstSize.get(p), vulns: s.vulns.get(p), pulls: s.pulls.get(p), fix: s.fix.get(p) });
  });
}

/** The rows of one group (or of the whole query) that make an SLI report. */
interface ReportRows {
  readonly totals: z.infer<typeof Totals>;
  readonly failures: readonly z.infer<typeof Failure>[];
  /** Newest first. */
  readonly sizes: readonly z.infer<typeof SizeRow>[];
  readonly firstSize: z.infer<typeof SizeRow> | undefined;
  readonly vulns: z.infer<typeof VulnRow> | undefined;
  readonly pulls: z.infer<typeof DistRow> | undefined;
  readonly fix: z.infer<typeof FixRow> | undefined;
}

function toReport(query: SliQuery, p: Params, rows: ReportRows): SliReport {
  const t = rows.totals;
  const sizes = [...rows.sizes].reverse().map((r) => ({ id: r.id, startedAt: r.started_at, bytes: r.image_size }));
  const firstRow = rows.firstSize;
  const first = firstRow === undefined ? null : { id: firstRow.id, startedAt: firstRow.started_at, bytes: firstRow.image_size };
  const latest = sizes.at(-1) ?? null;
  const v = rows.vulns;
  const pulls = rows.pulls;
  const fix = rows.fix;
  const counts = v === undefined ? undefined : {
    CRITICAL: v.vulns_critical ?? 0, HIGH: v.vulns_high ?? 0, MEDIUM: v.vulns_medium ?? 0, LOW: v.vulns_low ?? 0, UNKNOWN: v.vulns_unknown ?? 0,
  } satisfies Record<Severity, number>;
  return {
    query: { project: p.project, target: p.target, sinceMs: query.sinceMs ?? null, untilMs: query.untilMs ?? null },
    builds: { total: t.total, success: t.success, failed: t.failed, cancelled: t.cancelled },
    failures: rows.failures.map((f) => ({ code: f.code, count: f.count })),
    successRate: ratio(t.success, t.success + t.failed),
    buildTimeMs: { count: t.success, p50: t.p50, p95: t.p95, mean: t.mean },
    cacheHitRate: ratio(t.steps_cached, t.steps_total),
    imageSize: { latest, first, change: latest === null || first === null ? null : latest.bytes - first.bytes, series: sizes },
    vulnerabilities: v === undefined || counts === undefined ? null : {
      id: v.id, startedAt: v.started_at, hasData: v.vulns_data === 1, counts, total: SEVERITIES.reduce((sum, sev) => sum + counts[sev], 0),
    },
    timeToFixMs: { fixed: fix?.fixed ?? 0, open: fix?.open ?? 0, mean: fix?.mean ?? null, median: fix?.median ?? null },
    promotionRate: t.promo_known > 0 ? { status: 'known', rate: ratio(t.promoted, t.promo_known) } : { status: 'unknown', reason: PROMOTION_UNKNOWN_REASON },
    sbom: { coverage: ratio(t.with_sbom, t.sc_known), packages: t.pkgs, withPurl: ratio(t.purl, t.pkgs), withLicense: ratio(t.license, t.pkgs) },
    pullLatencyMs: { count: pulls?.n ?? 0, p50: pulls?.p50 ?? null, p95: pulls?.p95 ?? null, mean: pulls?.mean ?? null },
    provenanceCoverage: ratio(t.with_prov, t.sc_known),
    signatureCoverage: ratio(t.signed, t.sc_known),
  };
}

export interface SliGroup {
  readonly project: string;
  /** The target ('' for the last stage); undefined when grouped by project only. */
  readonly target?: string | undefined;
  readonly report: SliReport;
}

/**
 * The SLIs per project (or per project and target) of the builds matching `query`: each statement of
 * `historyStats` runs once, grouped, rather than once per group; each group's report equals
 * `historyStats` of that project (and target).
 */
export function historyStatsBy(store: HistoryStore, query: SliQuery, by: 'project' | 'target'): SliGroup[] {
  const s = groupedStatementsOf(store);
  const p: ByParams = { ...params(query), by };
  return store.database.readTransaction(() => {
    const key = (row: { g_project: string; g_target: string }): string => JSON.stringify([row.g_project, row.g_target]);
    const many = <T extends { g_project: string; g_target: string }>(rows: readonly T[]): Map<string, T[]> => {
      const out = new Map<string, T[]>();
      for (const row of rows) {
        const k = key(row);
        const list = out.get(k);
        if (list === undefined) out.set(k, [row]);
        else list.push(row);
      }
      return out;
    };
    const one = <T extends { g_project: string; g_target: string }>(rows: readonly T[]): Map<string, T> => new Map(rows.map((row) => [key(row), row]));
    const failures = many(s.failures.all(p));
    const sizes = many(s.sizes.all(p));
    const firstSize = one(s.firstSize.all(p));
    const vulns = one(s.vulns.all(p));
    const pulls = one(s.pulls.all(p));
    const fix = one(s.fix.all(p));
    return s.totals.all(p).map((totals) => {
      const k = key(totals);
      const target = by === 'target' ? totals.g_target : query.target;
      const groupQuery: SliQuery = { ...query, project: totals.g_project, target };
      return {
        project: totals.g_project,
        ...(by === 'target' ? { target: totals.g_target } : {}),
        report: toReport(groupQuery, params(groupQuery), {
          totals, failures: failures.get(k) ?? [], sizes: sizes.get(k) ?? [], firstSize: firstSize.get(k), vulns: vulns.get(k), pulls: pulls.get(k), fix: fix.get(k),
        }),
      };
    });
  });
}

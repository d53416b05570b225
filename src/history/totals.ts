/**
 * The history's totals as the Prometheus exposition needs them (metrics/): counts since the first
 * record, latest values per project and target, and the raw durations for the histograms. Read in
 * one transaction, so one scrape sees one state.
 */
import { z } from 'zod';
import type { Database } from '../db/index.js';
import type { Severity } from '../scan/index.js';
import type { BuildStatus } from './types.js';
import { BUILD_STATUSES } from './types.js';
import type { HistoryStore } from './store.js';

export interface HistoryTotals {
  /** Builds by project, target, status and error code ('' when none). */
  readonly builds: readonly { readonly project: string; readonly target: string; readonly status: BuildStatus; readonly errorCode: string; readonly count: number }[];
  /** Steps by project: executed (`completed`), taken from the cache, all; warnings. */
  readonly steps: readonly { readonly project: string; readonly completed: number; readonly cached: number; readonly total: number; readonly warnings: number }[];
  /** Wall time of every finished build, seconds, by project and status. */
  readonly durations: readonly { readonly project: string; readonly status: BuildStatus; readonly seconds: number }[];
  /** Per project and target, from the latest successful build. */
  readonly latest: readonly {
    readonly project: string;
    readonly target: string;
    readonly imageSize: number | null;
    readonly sbom: boolean | null;
    readonly provenance: boolean | null;
    readonly signed: boolean | null;
  }[];
  /** Per project and target, the latest scanned build's vulnerability counts. */
  readonly vulnerabilities: readonly { readonly project: string; readonly target: string; readonly counts: Readonly<Record<Severity, number>> }[];
  /** Bytes pushed, by project. */
  readonly pushBytes: readonly { readonly project: string; readonly bytes: number }[];
  /** Base image pull latencies, seconds. */
  readonly pulls: readonly { readonly project: string; readonly seconds: number }[];
}

const int = z.number().int();
const BuildsRow = z.object({ project: z.string(), target: z.string(), status: z.enum(BUILD_STATUSES), code: z.string(), n: int });
const StepsRow = z.object({ project: z.string(), completed: int, cached: int, total: int, warnings: int });
const DurationRow = z.object({ project: z.string(), status: z.enum(BUILD_STATUSES), ms: int });
const LatestRow = z.object({ project: z.string(), target: z.string(), image_size: int.nullable(), sbom: int.nullable(), provenance: int.nullable(), signed: int.nullable() });
const VulnRow = z.object({
  project: z.string(), target: z.string(),
  vulns_critical: int.nullable(), vulns_high: int.nullable(), vulns_medium: int.nullable(), vulns_low: int.nullable(), vulns_unknown: int.nullable(),
});
const PushRow = z.object({ project: z.string(), bytes: int });
const PullRow = z.object({ project: z.string(), ms: int });
type None = Record<string, never>;

function statements(db: Database) {
  return {
    builds: db.statement<None, z.infer<typeof BuildsRow>>(`SELECT project, target, status, coalesce(error_code, '') AS code, count(*) AS n
      FROM history_builds GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, BuildsRow),
    steps: db.statement<None, z.infer<typeof StepsRow>>(`SELECT project, sum(steps_executed) AS completed, sum(steps_cached) AS cached, sum(steps_total) AS total, sum(warnings) AS warnings
      FROM history_builds GROUP BY 1 ORDER BY 1`, StepsRow),
    durations: db.statement<None, z.infer<typeof DurationRow>>('SELECT project, status, max(0, ended_at - started_at) AS ms FROM history_builds', DurationRow),
    // SQLite: a bare column beside max() takes its value from the row holding the maximum.
    latest: db.statement<None, z.infer<typeof LatestRow>>(`SELECT project, target, image_size, sbom, provenance, signed, max(started_at) AS at
      FROM history_builds WHERE status = 'success' GROUP BY 1, 2 ORDER BY 1, 2`, LatestRow),
    vulns: db.statement<None, z.infer<typeof VulnRow>>(`SELECT project, target, vulns_critical, vulns_high, vulns_medium, vulns_low, vulns_unknown, max(started_at) AS at
      FROM history_builds WHERE vulns_scanned = 1 GROUP BY 1, 2 ORDER BY 1, 2`, VulnRow),
    push: db.statement<None, z.infer<typeof PushRow>>('SELECT project, sum(push_bytes) AS bytes FROM history_builds WHERE push_bytes IS NOT NULL GROUP BY 1 ORDER BY 1', PushRow),
    pulls: db.statement<None, z.infer<typeof PullRow>>('SELECT b.project, p.duration_ms AS ms FROM history_pulls p JOIN history_builds b ON b.id = p.build_id', PullRow),
  };
}

const prepared = new WeakMap<Database, ReturnType<typeof statements>>();
const flag = (value: number | null): boolean | null => (value === null ? null : value === 1);

export function historyTotals(store: HistoryStore): HistoryTotals {
  const db = store.database;
  let s = prepared.get(db);
  if (s === undefined) {
    s = statements(db);
    prepared.set(db, s);
  }
  const q = s;
  return db.readTransaction(() => ({
    builds: q.builds.all({}).map((r) => ({ project: r.project, target: r.target, status: r.status, errorCode: r.code, count: r.n })),
    steps: q.steps.all({}),
    durations: q.durations.all({}).map((r) => ({ project: r.project, status: r.status, seconds: r.ms / 1000 })),
    latest: q.latest.all({}).map((r) => ({ project: r.project, target: r.target, imageSize: r.image_size, sbom: flag(r.sbom), provenance: flag(r.provenance), signed: flag(r.signed) })),
    vulnerabilities: q.vulns.all({}).map((r) => {
      const counts: Record<Severity, number> = { CRITICAL: r.vulns_critical ?? 0, HIGH: r.vulns_high ?? 0, MEDIUM: r.vulns_medium ?? 0, LOW: r.vulns_low ?? 0, UNKNOWN: r.vulns_unknown ?? 0 };
      return { project: r.project, target: r.target, counts };
    }),
    pushBytes: q.push.all({}),
    pulls: q.pulls.all({}).map((r) => ({ project: r.project, seconds: r.ms / 1000 })),
  }));
}

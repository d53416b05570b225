/**
 * The SLIs (src/history/stats.ts) over a fixed, generated history, against numbers computed by hand
 * (in the comments); a broken query changes them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Database } from '../../src/db/index.js';
import { HistoryStore, historyStats, historyStatsBy } from '../../src/history/index.js';
import { A, B, FIXTURES, counts, saveFixture } from '../helpers/history-fixture.js';

function store(): { db: Database; store: HistoryStore } {
  const db = Database.open(':memory:');
  const s = new HistoryStore(db);
  for (const f of FIXTURES) saveFixture(s, f);
  return { db, store: s };
}

describe('history stats: SLIs by SQL over a generated history', () => {
  it('computes M1–M10 over every build', () => {
    const { db, store: s } = store();
    const r = historyStats(s, {});
    assert.deepEqual(r.builds, { total: 9, success: 4, failed: 4, cancelled: 1 });
    assert.deepEqual(r.failures, [{ code: 'BUILD_STEP_FAILED', count: 2 }, { code: 'DOCKERFILE_PARSE', count: 1 }, { code: 'unknown', count: 1 }]);
    // M1: 4 successes of 8 finished (the cancelled build is neither).
    assert.deepEqual(r.successRate, { value: 0.5, numerator: 4, denominator: 8 });
    // M2: successes took 10 s, 20 s, 40 s, 50 s: median 30 s; p95 interpolates 40 + 0.85 × 10.
    assert.equal(r.buildTimeMs.count, 4);
    assert.equal(r.buildTimeMs.p50, 30_000);
    assert.ok(Math.abs((r.buildTimeMs.p95 ?? 0) - 48_500) < 1e-6, String(r.buildTimeMs.p95));
    assert.equal(r.buildTimeMs.mean, 30_000);
    // M3: 15 cached of 27 steps.
    assert.deepEqual(r.cacheHitRate, { value: 15 / 27, numerator: 15, denominator: 27 });
    // M4: by start time a1 1000, b1 500, b3 400, a4 1500.
    assert.deepEqual(r.imageSize.latest, { id: 'a4', startedAt: 300_000, bytes: 1500 });
    assert.deepEqual(r.imageSize.first, { id: 'a1', startedAt: 0, bytes: 1000 });
    assert.equal(r.imageSize.change, 500);
    assert.deepEqual(r.imageSize.series.map((p) => p.bytes), [1000, 500, 400, 1500]);
    // M5: the latest scanned build, a4.
    assert.deepEqual(r.vulnerabilities, { id: 'a4', startedAt: 300_000, hasData: true, counts: counts(1, 2, 3, 0, 1), total: 7 });
    // M6: a broke at 130 s, fixed at 320 s (190 s); b broke at 160 s, fixed at 300 s (140 s); a broke again at 530 s (open).
    assert.deepEqual(r.timeToFixMs, { fixed: 2, open: 1, mean: 165_000, median: 165_000 });
    // M7: one successful build annotated, promoted.
    assert.deepEqual(r.promotionRate, { status: 'known', rate: { value: 1, numerator: 1, denominator: 1 } });
    // M8: 3 successes with known facts (a1, b3, a4), 2 with an SBOM; 14 packages, 12 with a purl, 5 with a license.
    assert.deepEqual(r.sbom, { coverage: { value: 2 / 3, numerator: 2, denominator: 3 }, packages: 14, withPurl: { value: 12 / 14, numerator: 12, denominator: 14 }, withLicense: { value: 5 / 14, numerator: 5, denominator: 14 } });
    // M9: pulls of 200, 400, 1000 ms: p95 = 400 + 0.9 × 600.
    assert.equal(r.pullLatencyMs.count, 3);
    assert.equal(r.pullLatencyMs.p50, 400);
    assert.ok(Math.abs((r.pullLatencyMs.p95 ?? 0) - 940) < 1e-6, String(r.pullLatencyMs.p95));
    // M10: provenance a1, a4 of 3; signed a4.
    assert.deepEqual(r.provenanceCoverage, { value: 2 / 3, numerator: 2, denominator: 3 });
    assert.deepEqual(r.signatureCoverage, { value: 1 / 3, numerator: 1, denominator: 3 });
    db.close();
  });

  it('filters by window and project; "no data" is null, not 0; M7 unknown without annotations', () => {
    const { db, store: s } = store();
    const w = historyStats(s, { sinceMs: 100_000, untilMs: 300_000 });
    assert.deepEqual(w.builds, { total: 4, success: 1, failed: 3, cancelled: 0 });
    assert.equal(w.successRate.value, 0.25);
    assert.equal(w.buildTimeMs.p50, 50_000);
    // a broke at 130 s and is not fixed inside the window; b broke at 160 s, fixed at 300 s.
    assert.deepEqual(w.timeToFixMs, { fixed: 1, open: 1, mean: 140_000, median: 140_000 });
    assert.equal(w.vulnerabilities, null);
    assert.equal(w.pullLatencyMs.count, 0);
    assert.equal(w.pullLatencyMs.p50, null);

    const a = historyStats(s, { project: A });
    assert.deepEqual(a.successRate, { value: 0.4, numerator: 2, denominator: 5 });
    assert.equal(a.buildTimeMs.p50, 15_000);
    assert.ok(Math.abs((a.buildTimeMs.p95 ?? 0) - 19_500) < 1e-6);
    assert.deepEqual(a.promotionRate.status, 'unknown');
    assert.equal(a.pullLatencyMs.p50, 1000);

    const none = historyStats(s, { project: 'nothing' });
    assert.deepEqual(none.builds, { total: 0, success: 0, failed: 0, cancelled: 0 });
    assert.equal(none.successRate.value, null);
    assert.equal(none.buildTimeMs.p50, null);
    assert.equal(none.cacheHitRate.value, null);
    assert.equal(none.imageSize.latest, null);
    assert.equal(none.sbom.coverage.value, null);
    db.close();
  });

  it('groups by project and by target', () => {
    const { db, store: s } = store();
    const byProject = historyStatsBy(s, {}, 'project');
    assert.deepEqual(byProject.map((g) => [g.project, g.target, g.report.builds.total, g.report.successRate.value]), [[B, undefined, 3, 2 / 3], [A, undefined, 6, 0.4]]);
    saveFixture(s, { id: 'a7', project: A, target: 'test', start: 600_000, end: 601_000, status: 'success', steps: [1, 1] });
    const byTarget = historyStatsBy(s, { sinceMs: 0 }, 'target');
    assert.deepEqual(byTarget.map((g) => [g.project, g.target, g.report.builds.total]), [[B, '', 3], [A, 'app', 6], [A, 'test', 1]]);
    db.close();
  });

  it('the grouped queries give each group exactly the report historyStats gives it (a generated history, several windows)', () => {
    using db = Database.open(':memory:');
    const s = new HistoryStore(db);
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
    for (let i = 0; i < 300; i++) {
      const status = pick(['success', 'success', 'failed', 'cancelled'] as const);
      const start = i * 10_000 + Math.floor(random() * 5000);
      const total = 1 + Math.floor(random() * 6);
      saveFixture(s, {
        id: `g${i}`, project: pick([A, B, '/src/c']), target: pick(['', 'app', 'test']), start, end: start + 1000 + Math.floor(random() * 90_000), status,
        ...(status === 'success' ? {} : { code: pick(['BUILD_STEP_FAILED', 'DOCKERFILE_PARSE', 'ABORTED']) }),
        steps: [total, Math.floor(random() * (total + 1))],
        ...(status === 'success' && random() < 0.8 ? { size: 1000 + Math.floor(random() * 5000) } : {}),
        ...(status === 'success' && random() < 0.7 ? { supplyChain: { sbom: random() < 0.5, provenance: random() < 0.5, signed: random() < 0.3, sbomPackages: { total: 10, purl: Math.floor(random() * 10), license: 3 }, ...(random() < 0.4 ? { vulns: { hasData: random() < 0.8, counts: counts(i % 3, i % 5, 1, 0, 2) } } : {}) } } : {}),
        ...(random() < 0.3 ? { promoted: random() < 0.5 } : {}),
        pulls: random() < 0.4 ? [100 + Math.floor(random() * 3000)] : [],
      });
    }
    let groups = 0;
    for (const query of [{}, { sinceMs: 1_000_000 }, { sinceMs: 500_000, untilMs: 2_000_000 }, { target: 'app' }, { project: B }]) {
      for (const by of ['project', 'target'] as const) {
        const grouped = historyStatsBy(s, query, by);
        assert.ok(grouped.length > 0);
        for (const g of grouped) {
          groups++;
          const target = by === 'target' ? g.target : query.target;
          assert.deepEqual(g.report, historyStats(s, { ...query, project: g.project, target }), JSON.stringify([query, by, g.project, g.target]));
        }
        const keys = grouped.map((g) => [g.project, g.target ?? '']);
        assert.deepEqual(keys, [...keys].sort((x, y) => (x[0] === y[0] ? ((x[1] ?? '') < (y[1] ?? '') ? -1 : 1) : (x[0] ?? '') < (y[0] ?? '') ? -1 : 1)), 'groups in project, target order');
      }
    }
    assert.ok(groups > 30);
  });
});

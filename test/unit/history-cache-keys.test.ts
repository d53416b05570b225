/**
 * History schema 3: each step's cache key (from `vertex.cached` / `vertex.started`, else `cache.miss`)
 * and the build's trace id; a database of schema 2 opens with its records intact; the debug view's
 * cache diagnostics count hits and misses per project, step and key; record bundles carry both.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Database } from '../../src/db/index.js';
import { RecordingSink, type BuildEvent } from '../../src/events/index.js';
import { HISTORY_MIGRATIONS, HISTORY_SCHEMA_OWNER, HistoryQuery, HistoryRecorder, HistoryStore, RecordBundle, toRecordBundle, type BuildRequest } from '../../src/history/index.js';
import { traceLink } from '../../src/server/index.js';

const V = (c: string): string => 'sha256:' + c.repeat(64);
const K1 = V('1');
const K2 = V('2');
const K3 = V('3');
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function request(project: string): BuildRequest {
  return {
    project, context: project, dockerfile: `${project}/Dockerfile`, platform: 'linux/amd64',
    facts: { buildArgs: [], secrets: [], ssh: [], tags: [], outputs: [], noCache: false, push: false },
  };
}

function record(db: Database, events: readonly BuildEvent[], options: { project?: string; traceId?: () => string | undefined } = {}): RecordingSink {
  const next = new RecordingSink();
  const recorder = new HistoryRecorder({ open: () => new HistoryStore(db), request: request(options.project ?? '/src/app'), next, traceId: options.traceId });
  for (const event of events) recorder.emit(event);
  return next;
}

/** A build at `t` whose FROM step hits `fromKey` and whose RUN step hits or misses `runKey`. */
function build(id: string, t: number, fromKey: string, run: { key: string; hit: boolean; reasons?: string[] }): BuildEvent[] {
  const runSteps: BuildEvent[] = run.hit
    ? [{ type: 'vertex.cached', time: t + 2, vertex: V('b'), name: '[2/2] RUN make', cacheKey: run.key }]
    : [
      { type: 'vertex.started', time: t + 2, vertex: V('b'), name: '[2/2] RUN make', inputs: [V('a')], cacheKey: run.key },
      ...(run.reasons === undefined ? [] : [{ type: 'cache.miss', time: t + 3, vertex: V('b'), key: run.key, reasons: run.reasons } satisfies BuildEvent]),
      { type: 'vertex.completed', time: t + 50, vertex: V('b'), durationMs: 48 },
    ];
  return [
    { type: 'build.started', time: t, buildId: id, target: '', vertices: 2 },
    { type: 'vertex.cached', time: t + 1, vertex: V('a'), name: '[1/2] FROM busybox', cacheKey: fromKey },
    ...runSteps,
    { type: 'build.completed', time: t + 100, durationMs: 100, executed: run.hit ? 0 : 1, cached: run.hit ? 2 : 1 },
  ];
}

describe('history: cache keys and trace ids (schema 3)', () => {
  it('records the key of a hit (vertex.cached) and of a miss (vertex.started), and the trace id when it is well formed', () => {
    using db = Database.open(':memory:');
    record(db, build('k1', 1000, K1, { key: K2, hit: false, reasons: ['the command changed'] }), { traceId: () => TRACE });
    const store = new HistoryStore(db);
    const got = store.get('k1');
    assert.deepEqual(got?.steps.map((s) => [s.status, s.cacheKey, s.missReasons]), [['cached', K1, []], ['done', K2, ['the command changed']]]);
    assert.equal(got?.build.traceId, TRACE);
    // A key known only from cache.miss (an older event stream) is still kept.
    record(db, [
      { type: 'build.started', time: 3000, buildId: 'k2', target: '', vertices: 1 },
      { type: 'vertex.started', time: 3001, vertex: V('b'), name: 'RUN make', inputs: [] },
      { type: 'cache.miss', time: 3002, vertex: V('b'), key: K3, reasons: ['x'] },
      { type: 'vertex.completed', time: 3010, vertex: V('b'), durationMs: 9 },
      { type: 'build.completed', time: 3020, durationMs: 20, executed: 1, cached: 0 },
    ], { traceId: () => '0'.repeat(32) });
    assert.equal(store.get('k2')?.steps[0]?.cacheKey, K3);
    assert.equal(store.get('k2')?.build.traceId, undefined, 'an all-zero (invalid) trace id is not a trace');
    record(db, build('k3', 4000, K1, { key: K2, hit: true }), { traceId: () => 'not a trace id' });
    assert.equal(store.get('k3')?.build.traceId, undefined);
  });

  it('opens a schema-2 history: its records read as before, without keys or trace ids; new records have them', () => {
    using db = Database.open(':memory:');
    db.migrate(HISTORY_SCHEMA_OWNER, HISTORY_MIGRATIONS.slice(0, 2));
    assert.equal(db.schemaVersion(HISTORY_SCHEMA_OWNER), 2);
    db.writeTransaction(() => {
      db.command(`INSERT INTO history_builds (id, project, context, dockerfile, target, platform, started_at, ended_at, status, request, steps_total, steps_executed, steps_cached, warnings, sbom, provenance, signed)
        VALUES ('old2', '/src/app', '/src/app', 'Dockerfile', '', 'linux/amd64', 500, 600, 'success', '{"buildArgs":[],"secrets":[],"ssh":[],"tags":[],"outputs":[],"noCache":false,"push":false}', 1, 1, 0, 0, 0, 1, 0)`)({});
      db.command(`INSERT INTO history_steps (build_id, seq, vertex, name, status, started_at, duration_ms, miss_reasons)
        VALUES ('old2', 1, '${V('b')}', '[2/2] RUN make', 'done', 510, 80, '["first build"]')`)({});
    });
    const store = new HistoryStore(db);
    assert.equal(db.schemaVersion(HISTORY_SCHEMA_OWNER), 3);
    const old = store.get('old2');
    assert.equal(old?.build.status, 'success');
    assert.equal(old?.build.supplyChain?.provenance, true);
    assert.equal(old?.build.traceId, undefined);
    assert.deepEqual(old?.steps.map((s) => [s.name, s.status, s.cacheKey, s.missReasons]), [['[2/2] RUN make', 'done', undefined, ['first build']]]);
    record(db, build('new1', 1000, K1, { key: K2, hit: false, reasons: ['the command changed'] }));
    assert.equal(store.get('new1')?.steps[1]?.cacheKey, K2);
    // The cache diagnostics read old (keyless) and new rows side by side.
    const keys = new HistoryQuery(db).cacheKeys({}, 10);
    assert.deepEqual(keys.find((k) => k.cacheKey === null), { project: '/src/app', vertex: V('b'), cacheKey: null, name: '[2/2] RUN make', builds: 1, hits: 0, misses: 1, lastSeenAt: 500, lastMissReasons: ['first build'] });
  });

  it('cache diagnostics: per project, step and key, the builds it was seen in, its hits and misses, the latest miss reasons', () => {
    using db = Database.open(':memory:');
    record(db, build('a1', 1000, K1, { key: K2, hit: false, reasons: ['first'] }));
    record(db, build('a2', 2000, K1, { key: K2, hit: true }));
    record(db, build('a3', 3000, K1, { key: K2, hit: true }));
    record(db, build('a4', 4000, K1, { key: K3, hit: false, reasons: ['the command changed'] }));
    record(db, build('o1', 5000, K1, { key: K2, hit: true }), { project: '/src/other' });
    const query = new HistoryQuery(db);
    const keys = query.cacheKeys({ project: '/src/app' }, 50);
    const row = (key: string): unknown => {
      const k = keys.find((x) => x.cacheKey === key);
      return k === undefined ? undefined : { builds: k.builds, hits: k.hits, misses: k.misses, reasons: k.lastMissReasons, last: k.lastSeenAt };
    };
    assert.equal(keys.length, 3);
    assert.deepEqual(row(K1), { builds: 4, hits: 4, misses: 0, reasons: [], last: 4000 });
    assert.deepEqual(row(K2), { builds: 3, hits: 2, misses: 1, reasons: ['first'], last: 3000 });
    assert.deepEqual(row(K3), { builds: 1, hits: 0, misses: 1, reasons: ['the command changed'], last: 4000 });
    // Without a project filter the other project's use of K2 is its own row.
    const all = query.cacheKeys({}, 50);
    assert.deepEqual(all.filter((k) => k.cacheKey === K2).map((k) => [k.project, k.builds, k.hits]).sort(), [['/src/app', 3, 2], ['/src/other', 1, 1]]);
    // A window: only a3 and a4.
    const recent = query.cacheKeys({ project: '/src/app', sinceMs: 3000 }, 50);
    assert.deepEqual(recent.find((k) => k.cacheKey === K2)?.builds, 1);
  });

  it('record bundles carry the keys and the trace id; a malformed trace id is refused', () => {
    using db = Database.open(':memory:');
    record(db, build('b1', 1000, K1, { key: K2, hit: false }), { traceId: () => TRACE });
    const store = new HistoryStore(db);
    const found = store.get('b1');
    assert.ok(found !== undefined);
    const bundle = JSON.parse(JSON.stringify(toRecordBundle({ ...found, logs: store.logs('b1') }))) as Record<string, unknown>;
    const parsed = RecordBundle.parse(bundle);
    assert.equal(parsed.build.traceId, TRACE);
    assert.deepEqual(parsed.steps.map((s) => s.cacheKey), [K1, K2]);
    const bad = RecordBundle.safeParse({ ...bundle, build: { ...(bundle.build as object), traceId: '<script>' } });
    assert.equal(bad.success, false);
  });

  it('links a trace id to the configured trace viewer', () => {
    assert.equal(traceLink('http://jaeger:16686/trace/{traceId}', TRACE), `http://jaeger:16686/trace/${TRACE}`);
    assert.equal(traceLink(undefined, TRACE), null);
    assert.equal(traceLink('http://x/{traceId}', undefined), null);
  });
});

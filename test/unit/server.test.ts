import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Database } from '../../src/db/index.js';
import { HistoryQuery, HistoryStore, Outbox, fromRecordBundle, pushRecords } from '../../src/history/index.js';
import { loadAssets, startServer, type RunningServer } from '../../src/server/index.js';
import { fixtureBundle } from '../helpers/record-bundles.js';

const TOKEN = 'unit-test-token-0123456789abcdef';
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 1);

interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

async function call(url: string, init: RequestInit = {}): Promise<Reply> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text.startsWith('{') ? (JSON.parse(text) as unknown) : text };
}

function open(): { db: Database; store: HistoryStore; query: HistoryQuery; outbox: Outbox } {
  const db = Database.open(':memory:');
  const store = new HistoryStore(db);
  return { db, store, query: new HistoryQuery(db), outbox: new Outbox(db, () => NOW) };
}

describe('stagecraft serve: JSON API and POST /api/records', () => {
  const { db, store, query } = open();
  let server: RunningServer;
  // 30 builds over 30 days: every 5th failed (a test stage every 10th), sizes growing.
  const ids: string[] = [];
  before(async () => {
    for (let i = 0; i < 30; i++) {
      const id = `b${String(i).padStart(4, '0')}`;
      ids.push(id);
      const status = i % 5 === 4 ? 'failed' : 'success';
      store.save(fromRecordBundle(fixtureBundle(id, { startedAt: NOW - (30 - i) * DAY, status, durationMs: 1000 * (i + 1), imageSize: 1_000_000 + i * 1000, cached: i % 2 === 0 ? [1, 2] : [1], failStage: i % 10 === 9 ? 'test' : 'build', project: i < 20 ? 'app' : 'lib' })));
    }
    server = await startServer({ store, query, token: TOKEN, maxBodyBytes: 256 * 1024, assets: loadAssets(), clock: () => NOW }, { host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    await server.close();
    db.close();
  });

  it('lists builds newest first with filters and paging', async () => {
    const page = (await call(`${server.url}/api/builds?limit=7&offset=2`)).body as { total: number; builds: { id: string }[] };
    assert.equal(page.total, 30);
    assert.deepEqual(page.builds.map((b) => b.id), ids.slice().reverse().slice(2, 9));
    const failed = (await call(`${server.url}/api/builds?status=failed&project=app`)).body as { total: number; builds: { id: string; status: string }[] };
    assert.deepEqual(failed.builds.map((b) => b.id), ['b0019', 'b0014', 'b0009', 'b0004']);
    const since = (await call(`${server.url}/api/builds?since=${NOW - 5 * DAY}`)).body as { total: number };
    assert.equal(since.total, 5);
    assert.equal((await call(`${server.url}/api/builds?status=odd`)).status, 400);
    assert.equal((await call(`${server.url}/api/builds?limit=100000`)).status, 400);
  });

  it('shows one build with steps, logs and the build before it; layers by Dockerfile line', async () => {
    const shown = (await call(`${server.url}/api/builds/b0012`)).body as { build: { id: string }; steps: { seq: number }[]; logs: { seq: number; text: string }[]; previous: { build: { id: string } } | null };
    assert.equal(shown.build.id, 'b0012');
    assert.equal(shown.previous?.build.id, 'b0011');
    assert.ok(shown.logs.some((l) => l.text.includes('RUN make -C /src')));
    const layers = (await call(`${server.url}/api/layers/b0012`)).body as { total: number; layers: { line: number; size: number }[] };
    assert.deepEqual(layers.layers.map((l) => l.line), [2, 3, 6, 9, 10]);
    assert.equal(layers.total, layers.layers.reduce((s, l) => s + l.size, 0));
    assert.equal((await call(`${server.url}/api/builds/zzzz`)).status, 404);
    assert.equal((await call(`${server.url}/api/builds/..%2F..`)).status, 400);
  });

  it('answers stats that match the records: success rate, p50/p95 of successful builds, per project', async () => {
    const stats = (await call(`${server.url}/api/stats?window=30d`)).body as { summary: { total: number; success: number; successRate: number; p50Ms: number; p95Ms: number; cacheHitRate: number }; projects: { project: string; total: number; success: number }[]; series: { total: number }[] };
    // Builds started within the last 30 days: all but the first (started exactly 30 days ago is in).
    const inWindow = ids.map((_, i) => i).filter((i) => NOW - (30 - i) * DAY >= NOW + 1 - 30 * DAY);
    const ok = inWindow.filter((i) => i % 5 !== 4);
    assert.equal(stats.summary.total, inWindow.length);
    assert.equal(stats.summary.success, ok.length);
    assert.equal(stats.summary.successRate, ok.length / inWindow.length);
    const durations = ok.map((i) => 1000 * (i + 1)).sort((a, b) => a - b);
    const mid = durations.length / 2;
    const median = durations.length % 2 === 0 ? ((durations[mid - 1] ?? 0) + (durations[mid] ?? 0)) / 2 : durations[Math.floor(mid)];
    assert.equal(stats.summary.p50Ms, median);
    // SQLite's percentile: linear between the two nearest ranks.
    const rank = 0.95 * (durations.length - 1);
    const low = durations[Math.floor(rank)] ?? 0;
    assert.equal(stats.summary.p95Ms, low + (rank - Math.floor(rank)) * ((durations[Math.ceil(rank)] ?? 0) - low));
    assert.deepEqual(stats.projects.map((p) => [p.project, p.total]), [['app', inWindow.filter((i) => i < 20).length], ['lib', 10]]);
    assert.equal(stats.series.reduce((s, p) => s + p.total, 0), inWindow.length);
    assert.equal((await call(`${server.url}/api/stats?window=forever`)).status, 400);
  });

  it('on-call: failing now (the latest build failed), failures by project, test-stage failures', async () => {
    const oncall = (await call(`${server.url}/api/oncall?window=30d`)).body as { failing: { build: { id: string } }[]; failuresByProject: { project: string; count: number }[]; testFailures: { buildId: string }[] };
    // The latest build of "lib" (b0029) failed; "app"'s latest (b0019) failed too.
    assert.deepEqual(oncall.failing.map((f) => f.build.id), ['b0029', 'b0019']);
    assert.deepEqual(oncall.failuresByProject.map((g) => [g.project, g.count]), [['app', 4], ['lib', 2]]);
    assert.deepEqual(oncall.testFailures.map((t) => t.buildId), ['b0029', 'b0019', 'b0009']);
  });

  it('refuses record posts without the token, with a wrong one, of the wrong type, too large or malformed', async () => {
    const bundle = JSON.stringify(fixtureBundle('remote01', { startedAt: NOW - 1000 }));
    const post = (headers: Record<string, string>, body: string): Promise<Reply> => call(`${server.url}/api/records`, { method: 'POST', headers, body });
    assert.equal((await post({ 'content-type': 'application/json' }, bundle)).status, 401);
    assert.equal((await post({ 'content-type': 'application/json', authorization: `Bearer ${TOKEN}x` }, bundle)).status, 401);
    assert.equal((await post({ 'content-type': 'application/json', authorization: `Basic ${TOKEN}` }, bundle)).status, 401);
    assert.equal((await post({ 'content-type': 'text/plain', authorization: `Bearer ${TOKEN}` }, bundle)).status, 415);
    const big = JSON.stringify(fixtureBundle('remote02', { startedAt: NOW - 1000, logText: 'x'.repeat(300 * 1024) }));
    assert.equal((await post({ 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, big)).status, 413);
    // Chunked, no Content-Length: cut off while streaming.
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${server.url}/api/records`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 8; i++) req.write('x'.repeat(64 * 1024));
      req.end();
    });
    assert.equal(chunked, 413);
    assert.equal((await post({ 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, '{"version":1,')).status, 400);
    const wrong = JSON.parse(bundle) as { build: { id: string; status: string } };
    wrong.build.status = 'exploded';
    const invalid = await post({ 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, JSON.stringify(wrong));
    assert.equal(invalid.status, 400);
    assert.match(JSON.stringify(invalid.body), /build\.status/);
    wrong.build.status = 'success';
    wrong.build.id = '../etc';
    assert.equal((await post({ 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, JSON.stringify(wrong))).status, 400);
    assert.equal(store.get('remote01'), undefined, 'nothing refused was stored');
    assert.equal(store.get('remote02'), undefined);
  });

  it('debug: cache diagnostics per project, step and cache key (builds seen in, hits, misses); a build\'s trace links to the trace viewer', async () => {
    type Key = { project: string; vertex: string; cacheKey: string | null; name: string; builds: number; hits: number; misses: number };
    const debug = (await call(`${server.url}/api/debug?window=31d&project=app`)).body as { cache: { keys: Key[] } };
    const app = store.list({ project: 'app', limit: 100 }).map((b) => store.get(b.id));
    // The FROM step (index 1) hits its standing key in every build; COPY (index 2) hits in the even builds and misses with a new key in the odd ones.
    const from = app.map((r) => r?.steps.find((s) => s.name.includes('FROM')));
    const fromKey = from[0]?.cacheKey;
    assert.ok(fromKey !== undefined && from.every((s) => s?.cacheKey === fromKey && s.status === 'cached'));
    const row = debug.cache.keys.find((k) => k.cacheKey === fromKey);
    assert.deepEqual(row && [row.project, row.builds, row.hits, row.misses], ['app', 20, 20, 0]);
    const copies = app.map((r) => r?.steps.find((s) => s.name.includes('COPY src')));
    const standing = copies.find((s) => s?.status === 'cached')?.cacheKey;
    const copyRow = debug.cache.keys.find((k) => k.cacheKey === standing);
    assert.deepEqual(copyRow && [copyRow.builds, copyRow.hits, copyRow.misses], [copies.filter((s) => s?.status === 'cached').length, 10, 0]);
    const missKey = copies.find((s) => s?.status === 'done')?.cacheKey;
    const missRow = debug.cache.keys.find((k) => k.cacheKey === missKey);
    assert.deepEqual(missRow && [missRow.builds, missRow.hits, missRow.misses], [1, 0, 1]);
    assert.ok(debug.cache.keys.every((k) => k.project === 'app'));

    const traced = open();
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    traced.store.save(fromRecordBundle(fixtureBundle('t1', { startedAt: NOW - 1000, traceId })));
    traced.store.save(fromRecordBundle(fixtureBundle('t2', { startedAt: NOW - 500 })));
    const viewer = await startServer({ store: traced.store, query: traced.query, assets: new Map(), clock: () => NOW, traceUrl: 'http://jaeger.internal:16686/trace/{traceId}' }, { host: '127.0.0.1', port: 0 });
    try {
      const t1 = (await call(`${viewer.url}/api/builds/t1`)).body as { build: { traceId?: string }; traceUrl: string | null };
      assert.equal(t1.build.traceId, traceId);
      assert.equal(t1.traceUrl, `http://jaeger.internal:16686/trace/${traceId}`);
      const t2 = (await call(`${viewer.url}/api/builds/t2`)).body as { build: { traceId?: string }; traceUrl: string | null };
      assert.equal(t2.build.traceId, undefined);
      assert.equal(t2.traceUrl, null);
    } finally {
      await viewer.close();
      traced.db.close();
    }
  });

  it('stores a posted record once, however often it is sent', async () => {
    const bundle = JSON.stringify(fixtureBundle('remote03', { startedAt: NOW - 500, logText: 'remote output\n' }));
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
    const first = await call(`${server.url}/api/records`, { method: 'POST', headers, body: bundle });
    assert.equal(first.status, 201);
    const again = await call(`${server.url}/api/records`, { method: 'POST', headers, body: bundle });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { id: 'remote03', created: false });
    const list = (await call(`${server.url}/api/builds?limit=500`)).body as { total: number; builds: { id: string }[] };
    assert.equal(list.builds.filter((b) => b.id === 'remote03').length, 1);
    assert.equal(list.total, 31);
    assert.deepEqual(store.logs('remote03').map((l) => l.text), Array(store.get('remote03')?.steps.filter((s) => s.status !== 'cached').length).fill('remote output\n'));
  });

  it('serves the dashboard files with a CSP that allows only its own scripts; unknown paths are 404', async () => {
    const page = await call(`${server.url}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.body), /<script src="\/assets\/app.js"/);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const uplot = await call(`${server.url}/assets/uPlot.iife.min.js`);
    assert.equal(uplot.status, 200);
    assert.match(String(uplot.body), /uPlot/);
    assert.equal((await call(`${server.url}/assets/../../etc/passwd`)).status, 404);
    assert.equal((await call(`${server.url}/nope`)).status, 404);
    assert.equal((await call(`${server.url}/api/builds`, { method: 'DELETE' })).status, 405);
  });
});

describe('report outbox: queued records are delivered once the server is up, nothing lost, no duplicates', () => {
  it('a down server costs one fast failure; the next round delivers everything, a resend is stored once', async () => {
    const local = open();
    const remote = open();
    for (const id of ['r1', 'r2', 'r3']) local.store.save(fromRecordBundle(fixtureBundle(id, { startedAt: NOW - 1000 })));
    // A port nothing listens on.
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const url = `http://127.0.0.1:${port}`;
    local.outbox.enqueue('r1', url);
    local.outbox.enqueue('r2', url);
    const begin = performance.now();
    const down = await pushRecords(local.store, local.outbox, { url, token: TOKEN, timeoutMs: 2000 });
    assert.ok(performance.now() - begin < 1500, 'a refused connection fails at once');
    assert.equal(down.delivered.length, 0);
    assert.equal(down.failed.length, 1, 'the round stops at the first "server not there"');
    assert.equal(down.pending, 2);
    const waiting = local.outbox.entries(url, { dueBy: Number.POSITIVE_INFINITY }).find((e) => e.buildId === down.failed[0]?.buildId);
    assert.equal(waiting?.attempts, 1);
    assert.equal(waiting?.nextAttemptAt, NOW + 30_000, 'backoff 30 s after the first failure');

    const server = await startServer({ store: remote.store, query: remote.query, token: TOKEN, assets: new Map() }, { host: '127.0.0.1', port });
    try {
      // A new build's record: due now; once it is taken, the one in backoff goes too.
      local.outbox.enqueue('r3', url);
      const up = await pushRecords(local.store, local.outbox, { url, token: TOKEN });
      assert.deepEqual([...up.delivered].sort(), ['r1', 'r2', 'r3']);
      assert.equal(up.pending, 0);
      assert.equal(remote.query.page({}, 100, 0).total, 3);
      // Sent again (a reply lost on the way back): still three.
      local.outbox.enqueue('r1', url);
      await pushRecords(local.store, local.outbox, { url, token: TOKEN });
      assert.equal(remote.query.page({}, 100, 0).total, 3);
      // A wrong token: refused, kept queued.
      local.outbox.enqueue('r2', url);
      const refused = await pushRecords(local.store, local.outbox, { url, token: 'wrong-token-wrong-token' });
      assert.match(refused.failed[0]?.error ?? '', /^HTTP 401/);
      assert.equal(refused.pending, 1);
    } finally {
      await server.close();
      local.db.close();
      remote.db.close();
    }
  });
});

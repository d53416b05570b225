/**
 * The dashboard API over a generated history of 10,000 builds (realistic steps: parallel stages, a
 * test stage, cache hits with miss reasons, failures, layers, logs): latency of /api/stats,
 * /api/builds, /api/oncall, /api/debug and /metrics through a real socket. Target: < 200 ms.
 *   node --import tsx bench/dashboard-api-bench.ts [builds]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database } from '../src/db/index.js';
import { HistoryQuery, HistoryStore, fromRecordBundle, historyStats } from '../src/history/index.js';
import { renderMetrics } from '../src/metrics/index.js';
import { startServer } from '../src/server/index.js';
import { fixtureBundle } from '../test/helpers/record-bundles.js';

const BUILDS = Number(process.argv[2] ?? 10_000);
const RUNS = 15;
const NOW = Date.now();
const work = await mkdtemp(join(tmpdir(), 'stagecraft-dash-bench-'));
const db = Database.open(join(work, 'metadata.db'));
const store = new HistoryStore(db);
const query = new HistoryQuery(db);
const projects = ['git@example.com:team/api.git', 'git@example.com:team/web.git', 'git@example.com:team/worker.git', '/src/tools', '/src/docs'];
const began = performance.now();
db.writeTransaction(() => {
  for (let i = 0; i < BUILDS; i++) {
    // Spread over 90 days; 1 in 8 fails (every other one in the test stage), 1 in 50 cancelled.
    const status = i % 50 === 49 ? 'cancelled' : i % 8 === 7 ? 'failed' : 'success';
    store.save(fromRecordBundle(fixtureBundle(`b${i.toString(36).padStart(6, '0')}`, {
      project: projects[i % projects.length] ?? '', target: i % 3 === 0 ? 'test' : '', startedAt: NOW - Math.round(((BUILDS - i) / BUILDS) * 90 * 86_400_000),
      status, durationMs: 5_000 + ((i * 7919) % 60_000), imageSize: 50_000_000 + (i % 100) * 100_000, cached: i % 4 === 0 ? [] : [1, 2, 5], failStage: i % 16 === 7 ? 'test' : 'build',
    })));
  }
});
const fillMs = performance.now() - began;
const server = await startServer({ store, query, assets: new Map(), sli: historyStats, metrics: () => renderMetrics(store) }, { host: '127.0.0.1', port: 0 });
const paths = ['/api/stats?window=30d', '/api/stats?window=90d', '/api/stats?window=90d&project=git%40example.com%3Ateam%2Fapi.git', '/api/builds?limit=50', '/api/builds?limit=50&offset=5000&status=failed', '/api/oncall?window=7d', '/api/debug?window=7d', '/metrics'];
const rows: string[] = [];
for (const path of paths) {
  const times: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t = performance.now();
    const response = await fetch(`${server.url}${path}`);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  rows.push(`${path.padEnd(72)} median ${(times[Math.floor(RUNS / 2)] ?? 0).toFixed(1).padStart(7)} ms   max ${(times.at(-1) ?? 0).toFixed(1).padStart(7)} ms`);
}
await server.close();
db.close();
await rm(work, { recursive: true, force: true });
process.stdout.write(`history of ${BUILDS} builds (generated in ${(fillMs / 1000).toFixed(1)} s), ${RUNS} requests each:\n${rows.join('\n')}\n`);

/**
 * What recording a build in the history costs (issue 17: < 20 ms on a warm build).
 *   node --import tsx bench/history-bench.ts [runs]
 * Builds a small Dockerfile (FROM scratch, three COPY steps: no registry, no runc) with the library,
 * once cold and then warm `runs` times, and reports the warm build's wall time. Then it replays the
 * events of a warm build through a HistoryRecorder on the same database, timing what recording adds
 * to the build's path: the request facts, opening the store (migration check, statements), every
 * event and the one write transaction. The git remote lookup runs beside the build and is timed
 * apart. Then the same with 200 KB of step output (deflated when the step ends). Last, the SLIs
 * (`historyStats`, one project and all) and the Prometheus exposition (`renderMetrics`) over 10,000
 * generated builds (issue 17: stats in < 200 ms).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config/index.js';
import { hostPlatform } from '../src/core/index.js';
import { Database } from '../src/db/index.js';
import { RecordingSink, nullSink, type BuildEvent } from '../src/events/index.js';
import { createEngine, statePaths } from '../src/engine/index.js';
import { HistoryRecorder, HistoryStore, historyStats, historyStatsBy, projectOf, requestFacts, type StepRecord } from '../src/history/index.js';
import { renderMetrics } from '../src/metrics/index.js';

const runs = Number(process.argv[2] ?? '20');
const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const max = (values: readonly number[]): number => Math.max(...values);

const work = await mkdtemp(join(tmpdir(), 'stagecraft-history-bench-'));
try {
  const context = join(work, 'ctx');
  await mkdir(context, { recursive: true });
  for (const name of ['a', 'b', 'c']) await writeFile(join(context, name), `${name}\n`.repeat(1000));
  const dockerfile = 'FROM scratch\nCOPY a /a\nCOPY b /b\nCOPY c /c\n';
  const config = loadConfig({ env: { STAGECRAFT_ROOT: join(work, 'root') }, flags: {} });
  const engine = createEngine(config);
  const platform = hostPlatform(process.arch);
  const options = (events: RecordingSink | typeof nullSink) => ({
    contextDir: context, dockerfile: { path: join(context, 'Dockerfile'), text: dockerfile }, buildArgs: new Map([['A', '1']]), platform, buildPlatform: platform,
    secrets: new Map<string, Buffer>(), ssh: new Map<string, string>(), tags: ['bench:1'], outputs: [], push: false, noCache: false, noCacheFilter: [], pull: false,
    network: 'default' as const, labels: new Map<string, string>(), events,
  });
  await engine.build(options(nullSink));
  const wall: number[] = [];
  let warmEvents: readonly BuildEvent[] = [];
  for (let i = 0; i < runs; i++) {
    const sink = new RecordingSink();
    const begin = performance.now();
    await engine.build(options(sink));
    wall.push(performance.now() - begin);
    warmEvents = sink.events;
  }
  engine.close();

  const db = Database.open(statePaths(config).database);
  const replay = (events: readonly BuildEvent[], id: string): { total: number; write: number } => {
    const begin = performance.now();
    const request = requestFacts({ contextDir: context, dockerfile: join(context, 'Dockerfile'), platform: 'linux/amd64', buildArgs: new Map([['A', '1']]), secrets: new Map(), ssh: new Map(), tags: ['bench:1'], outputs: [], noCache: false, push: false });
    const recorder = new HistoryRecorder({ open: () => new HistoryStore(db), request, next: nullSink });
    for (const event of events) recorder.emit(event.type === 'build.started' ? { ...event, buildId: id } : event);
    return { total: performance.now() - begin, write: recorder.writeMs ?? Number.NaN };
  };
  const lookups: number[] = [];
  for (let i = 0; i < runs; i++) {
    const begin = performance.now();
    await projectOf(context);
    lookups.push(performance.now() - begin);
  }
  const small: { total: number; write: number }[] = [];
  for (let i = 0; i < runs; i++) small.push(replay(warmEvents, `benchwarm${i}`));
  const started = warmEvents.find((e) => e.type === 'build.started');
  const logged: BuildEvent[] = [
    ...(started === undefined ? [] : [started]),
    { type: 'vertex.started', time: 1, vertex: 'sha256:v', name: 'RUN noisy', inputs: [] },
    ...Array.from({ length: 200 }, (_, i): BuildEvent => ({ type: 'vertex.log', time: 2, vertex: 'sha256:v', stream: 'stdout', data: `${'x'.repeat(1000)} ${i}\n` })),
    { type: 'vertex.completed', time: 3, vertex: 'sha256:v', durationMs: 2 },
    { type: 'build.completed', time: 4, durationMs: 3, executed: 1, cached: 0 },
  ];
  const big: { total: number; write: number }[] = [];
  for (let i = 0; i < runs; i++) big.push(replay(logged, `benchlogs${i}`));
  db.close();

  const fmt = (n: number): string => n.toFixed(2);
  console.log(`warm build (FROM scratch + 3 COPY, ${warmEvents.length} events), ${runs} runs: median ${fmt(median(wall))} ms, max ${fmt(max(wall))} ms (recording included)`);
  console.log(`recording a warm build: median ${fmt(median(small.map((s) => s.total)))} ms (write transaction ${fmt(median(small.map((s) => s.write)))} ms), max ${fmt(max(small.map((s) => s.total)))} ms`);
  console.log(`git remote lookup (runs beside the build, not before it): median ${fmt(median(lookups))} ms`);
  console.log(`recording 200 KB of step output: median ${fmt(median(big.map((s) => s.total)))} ms (write ${fmt(median(big.map((s) => s.write)))} ms), max ${fmt(max(big.map((s) => s.total)))} ms`);

  // 10,000 generated builds: 10 projects × 3 targets, 8 steps each, a fifth failed, some scanned and pulled.
  const generated = Database.open(join(work, 'generated.db'));
  const store = new HistoryStore(generated);
  let seed = 42;
  const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const fill = performance.now();
  const total = 10_000;
  const day = 86_400_000;
  const now = Date.now();
  for (let i = 0; i < total; i++) {
    const startedAt = now - 60 * day + Math.floor((i / total) * 60 * day);
    const failed = random() < 0.2;
    const cached = Math.floor(random() * 8);
    const steps: StepRecord[] = Array.from({ length: 8 }, (_, n) => ({ seq: n + 1, vertex: `sha256:${String(n).padStart(64, '0')}`, name: `[${n + 1}/8] RUN step ${n}`, status: n < cached ? 'cached' : 'done', startedAt, durationMs: 1000, missReasons: [] }));
    store.save({
      build: {
        id: `gen${i.toString(16).padStart(8, '0')}`, project: `git@example.com:team/p${i % 10}.git`, context: '/src', dockerfile: 'Dockerfile', target: ['', 'test', 'release'][i % 3] ?? '', platform: 'linux/amd64',
        startedAt, endedAt: startedAt + 20_000 + Math.floor(random() * 600_000), status: failed ? 'failed' : 'success',
        ...(failed ? { error: { code: 'BUILD_STEP_FAILED', message: 'exit code: 1' } } : { image: { digest: 'sha256:' + 'd'.repeat(64), configDigest: 'sha256:' + 'c'.repeat(64), size: 50_000_000 + Math.floor(random() * 1e6) } }),
        request: { buildArgs: [], secrets: [], ssh: [], tags: [], outputs: [], noCache: false, push: false },
        steps: { total: 8, executed: 8 - cached, cached }, warnings: 0,
        ...(failed ? {} : { supplyChain: { sbom: random() < 0.7, provenance: true, signed: random() < 0.5, sbomPackages: { total: 120, purl: 118, license: 90 }, ...(i % 5 === 0 ? { vulns: { hasData: true, counts: { CRITICAL: 0, HIGH: 2, MEDIUM: 5, LOW: 9, UNKNOWN: 1 } } } : {}) } }),
      },
      steps, warnings: [], logs: new Map(),
      pulls: i % 4 === 0 ? [{ seq: 1, ref: 'registry.example/library/debian', startedAt, durationMs: 500 + Math.floor(random() * 4000), bytes: 30_000_000, blobs: 3 }] : [],
    });
  }
  const fillMs = performance.now() - fill;
  const timeIt = (fn: () => unknown): number[] => Array.from({ length: Math.max(5, Math.min(runs, 20)) }, () => {
    const begin = performance.now();
    fn();
    return performance.now() - begin;
  });
  const all = timeIt(() => historyStats(store, {}));
  const week = timeIt(() => historyStats(store, { sinceMs: now - 7 * day }));
  const one = timeIt(() => historyStats(store, { project: 'git@example.com:team/p3.git', target: 'release', sinceMs: now - 30 * day }));
  const grouped = timeIt(() => historyStatsBy(store, { sinceMs: now - 30 * day }, 'target'));
  // The same groups the way historyStatsBy worked before its grouped queries: one historyStats per group.
  const groups = historyStatsBy(store, { sinceMs: now - 30 * day }, 'target');
  const perGroup = timeIt(() => groups.map((g) => historyStats(store, { sinceMs: now - 30 * day, project: g.project, target: g.target })));
  const metrics: number[] = [];
  for (let i = 0; i < Math.max(5, Math.min(runs, 20)); i++) {
    const begin = performance.now();
    await renderMetrics(store);
    metrics.push(performance.now() - begin);
  }
  generated.close();
  console.log(`generated ${total} builds in ${fmt(fillMs)} ms`);
  console.log(`historyStats over ${total} builds: all median ${fmt(median(all))} ms (max ${fmt(max(all))}), last 7 days ${fmt(median(week))} ms, one project+target over 30 days ${fmt(median(one))} ms, by target (${groups.length} groups, grouped queries) ${fmt(median(grouped))} ms (max ${fmt(max(grouped))}), the same as one historyStats per group ${fmt(median(perGroup))} ms (max ${fmt(max(perGroup))})`);
  console.log(`renderMetrics over ${total} builds: median ${fmt(median(metrics))} ms (max ${fmt(max(metrics))}; the first includes loading prom-client)`);
} finally {
  await rm(work, { recursive: true, force: true });
}

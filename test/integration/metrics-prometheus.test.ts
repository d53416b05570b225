/**
 * A real Prometheus (Debian's /usr/bin/prometheus) scrapes the history's metrics from a tiny
 * node:http server on 127.0.0.1 and evaluates docs/alerts.yml; its HTTP API then answers with the
 * values the history holds. `promtool check rules` accepts docs/alerts.yml and rejects a broken file.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { loadConfig } from '../../src/config/index.js';
import { hostPlatform } from '../../src/core/index.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { nullSink } from '../../src/events/index.js';
import type { HistoryStore } from '../../src/history/index.js';
import { renderMetrics } from '../../src/metrics/index.js';
import { A, FIXTURES, saveFixture } from '../helpers/history-fixture.js';
import { freePort } from '../helpers/registry.js';

const ALERTS = fileURLToPath(new URL('../../docs/alerts.yml', import.meta.url));
const QueryResult = z.object({ status: z.literal('success'), data: z.object({ result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: z.tuple([z.number(), z.string()]) })) }) });
const RulesResult = z.object({ status: z.literal('success'), data: z.object({ groups: z.array(z.object({ rules: z.array(z.object({ name: z.string(), health: z.string(), lastError: z.string().optional() }).passthrough()) }).passthrough()) }) });

describe('metrics: scraped by a real Prometheus', () => {
  let work: string;
  let engine: Engine;
  let store: HistoryStore;
  let server: Server;
  let prometheus: ChildProcess | undefined;
  let scrapes = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-prometheus-'));
    engine = createEngine(loadConfig({ env: { STAGECRAFT_ROOT: join(work, 'root') }, flags: {} }));
    const context = join(work, 'ctx');
    await mkdir(context);
    await writeFile(join(context, 'a'), 'a\n');
    const platform = hostPlatform(process.arch);
    // One real build, then the fixed history beside it.
    await engine.build({
      contextDir: context, dockerfile: { path: join(context, 'Dockerfile'), text: 'FROM scratch\nCOPY a /a\n' }, buildArgs: new Map(), platform, buildPlatform: platform,
      secrets: new Map(), ssh: new Map(), tags: [], outputs: [], push: false, noCache: false, noCacheFilter: [], pull: false, network: 'default', labels: new Map(), events: nullSink,
    });
    store = await engine.buildHistory();
    for (const f of FIXTURES) saveFixture(store, f);
    server = createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      scrapes++;
      renderMetrics(store).then(
        (m) => res.writeHead(200, { 'content-type': m.contentType }).end(m.body),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  after(async () => {
    const running = prometheus;
    if (running !== undefined && running.exitCode === null) {
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    }
    await new Promise<void>((resolve) => server.close(() => resolve()));
    engine.close();
    await rm(work, { recursive: true, force: true });
  });

  it('promtool accepts docs/alerts.yml and rejects a broken rule', async () => {
    const good = spawnSync('/usr/bin/promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' });
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /SUCCESS: 4 rules found/);
    const broken = join(work, 'broken.yml');
    await writeFile(broken, 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum by (project) (stagecraft_builds_total[5m]\n');
    assert.notEqual(spawnSync('/usr/bin/promtool', ['check', 'rules', broken], { encoding: 'utf8' }).status, 0);
  });

  it('Prometheus scrapes /metrics and its API returns the history\'s values; the alert rules evaluate without error', { timeout: 90_000 }, async () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    const webPort = await freePort();
    const config = join(work, 'prometheus.yml');
    await writeFile(config, [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'rule_files:',
      `  - ${JSON.stringify(ALERTS)}`,
      'scrape_configs:',
      '  - job_name: stagecraft',
      '    static_configs:',
      `      - targets: ["127.0.0.1:${address.port}"]`,
      '',
    ].join('\n'));
    let output = '';
    prometheus = spawn('/usr/bin/prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(work, 'tsdb')}`, `--web.listen-address=127.0.0.1:${webPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prometheus.stdout?.on('data', (d: Buffer) => void (output += d.toString()));
    prometheus.stderr?.on('data', (d: Buffer) => void (output += d.toString()));
    const api = `http://127.0.0.1:${webPort}/api/v1`;
    const query = async (promql: string): Promise<z.infer<typeof QueryResult>['data']['result']> => {
      const response = await fetch(`${api}/query?query=${encodeURIComponent(promql)}`);
      return QueryResult.parse(await response.json()).data.result;
    };
    const deadline = Date.now() + 60_000;
    let failed: z.infer<typeof QueryResult>['data']['result'] = [];
    while (Date.now() < deadline) {
      try {
        failed = await query('stagecraft_builds_total{status="failed",error_code="BUILD_STEP_FAILED"}');
        if (failed.length > 0) break;
      } catch {
        // Not listening yet.
      }
      if (prometheus.exitCode !== null) break;
      await sleep(500);
    }
    assert.equal(failed.length, 1, `no series after 60 s (prometheus exit ${String(prometheus.exitCode)}):\n${output.slice(-3000)}`);
    assert.ok(scrapes > 0);
    assert.equal(failed[0]?.metric.project, A);
    assert.equal(failed[0]?.value[1], '2');
    const success = await query('sum(stagecraft_builds_total{status="success"})');
    // 4 successes in the fixed history and the real build.
    assert.equal(success[0]?.value[1], '5');
    const p = await query(`stagecraft_image_attested{kind="provenance",project="${A}"}`);
    assert.equal(p[0]?.value[1], '1');
    const sizes = await query('stagecraft_image_size_bytes');
    // The real build is the newest record (the fixed history is from 1970).
    const [real] = store.list({ limit: 1 });
    assert.equal(real?.status, 'success');
    const ours = sizes.find((s) => s.metric.project === real?.project);
    assert.equal(Number(ours?.value[1]), real?.image?.size);

    // Every rule of docs/alerts.yml evaluates against the scraped series.
    let rules: z.infer<typeof RulesResult>['data']['groups'][number]['rules'] = [];
    while (Date.now() < deadline) {
      rules = RulesResult.parse(await (await fetch(`${api}/rules`)).json()).data.groups.flatMap((g) => g.rules);
      if (rules.length === 4 && rules.every((r) => r.health !== 'unknown')) break;
      await sleep(500);
    }
    assert.deepEqual(rules.map((r) => [r.name, r.health]), [
      ['StagecraftBuildFailureRateHigh', 'ok'], ['StagecraftBuildsSlow', 'ok'], ['StagecraftProvenanceMissing', 'ok'], ['StagecraftCacheHitRatioLow', 'ok'],
    ], JSON.stringify(rules));
  });
});

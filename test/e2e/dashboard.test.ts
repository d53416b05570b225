import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { z } from 'zod';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';
import { HistoryShown, type HistoryShown as Shown } from '../helpers/history-json.js';

const TOKEN = 'e2e-dashboard-token-6f1c2a9b8d';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/dashboard/', import.meta.url));
const Build = z.object({
  id: z.string(), project: z.string(), status: z.enum(['success', 'failed', 'cancelled']), startedAt: z.number(), endedAt: z.number(),
  image: z.object({ digest: z.string(), size: z.number() }).optional(),
  supplyChain: z.object({ sbom: z.boolean(), provenance: z.boolean(), signed: z.boolean() }).optional(),
  steps: z.object({ total: z.number(), executed: z.number(), cached: z.number() }),
}).passthrough();
const Page_ = z.object({ total: z.number(), builds: z.array(Build) });
const Layers = z.object({ total: z.number(), layers: z.array(z.object({ line: z.number().nullable(), name: z.string(), size: z.number() })) });
const TRACE_VIEWER = 'http://traces.example/trace/{traceId}';
const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>';

interface Serve {
  readonly child: ChildProcess;
  readonly url: string;
  stop(): Promise<void>;
}

/** `stagecraft serve` as a child process; resolves with its URL once it listens. */
async function serve(root: string, listen: string, tokenFile: string): Promise<Serve> {
  const child = spawn(process.execPath, [CLI_PATH, '--root', root, 'serve', '--listen', listen, '--token-file', tokenFile, '--trace-url', TRACE_VIEWER], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise<string>((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /listening on (http:\/\/[^/\s]+)\//.exec(seen);
      if (match?.[1] !== undefined) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${seen}`)));
  });
  return {
    child, url,
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * An OTLP/HTTP receiver in a child process (the builds run synchronously, so not in this one): it
 * answers 200 and appends each request body as one line to `file`.
 */
async function otlpReceiver(file: string): Promise<{ url: string; stop: () => void }> {
  const script = `const fs = require('node:fs'); require('node:http').createServer((req, res) => { const parts = []; req.on('data', (c) => parts.push(c));
    req.on('end', () => { fs.appendFileSync(${JSON.stringify(file)}, Buffer.concat(parts).toString().replace(/\\n/g, ' ') + '\\n'); res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); }); })
    .listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the OTLP receiver exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}`, stop: () => void child.kill('SIGTERM') };
}

async function getJson(url: string): Promise<unknown> {
  const response = await fetch(url);
  assert.equal(response.status, 200, url);
  return response.json();
}

const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1)}%`;

describe('stagecraft serve + build --report-to: two builders, one view; the dashboard in Chromium', () => {
  let env: BuildEnv;
  let serverRoot: string;
  let rootA: string;
  let rootB: string;
  let dir: string;
  let tokenFile: string;
  let server: Serve | undefined;
  let browser: Browser | undefined;

  before(async () => {
    env = await startBuildEnv();
    [serverRoot, rootA, rootB] = [await env.newRoot(), await env.newRoot(), await env.newRoot()];
    dir = join(env.work, 'app');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), 'file\n');
    tokenFile = join(env.work, 'token');
    writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await env.close();
  });

  it('collects the records of two builders (one build while the server is down), with no duplicates', { timeout: 180_000 }, async () => {
    server = await serve(serverRoot, '127.0.0.1:0', tokenFile);
    const reportEnv = { ...process.env, STAGECRAFT_REPORT_TOKEN: TOKEN };
    const build = (root: string, args: readonly string[]): ReturnType<BuildEnv['build']> => env.build(['--report-to', server?.url ?? '', ...args], { root, env: reportEnv });
    // Two stages in parallel (a test stage that runs, an app stage), a Dockerfile line with markup.
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox} AS base`, 'COPY f /f',
      'FROM base AS test', 'RUN echo testing && sleep 1 && echo ok > /tested',
      'FROM base AS app', `RUN echo '${HOSTILE}' > /page && head -c 20000 /dev/zero > /blob`,
      'FROM app', 'COPY --from=test /tested /tested', '',
    ].join('\n'));
    writeFileSync(join(dir, 'Dockerfile.fail'), [`FROM ${env.busybox} AS test`, 'COPY f /f', 'RUN echo "1 test failed" && exit 3', ''].join('\n'));
    const a1 = build(rootA, [dir]);
    assert.equal(a1.status, 0, a1.stderr);
    const a2 = build(rootA, ['-f', join(dir, 'Dockerfile.fail'), dir]);
    assert.equal(a2.status, 1, a2.stderr);
    const b1 = build(rootB, ['--build-arg', 'X=1', dir]);
    assert.equal(b1.status, 0, b1.stderr);
    const seen = Page_.parse(await getJson(`${server.url}/api/builds`));
    assert.equal(seen.total, 3);

    // The server goes down: builder B's build still succeeds, quickly, and its record waits.
    const port = new URL(server.url).port;
    await server.stop();
    const began = performance.now();
    const b2 = build(rootB, ['-f', join(dir, 'Dockerfile.fail'), dir]);
    const downMs = performance.now() - began;
    assert.equal(b2.status, 1, 'the build\'s own outcome (a failing RUN), not the report\'s');
    assert.match(b2.stderr, /could not report to http:\/\/127\.0\.0\.1:\d+ .*1 build record\(s\) stay queued/);
    assert.ok(downMs < 60_000);

    // Back up on the same port: `history push` delivers the queued record; a second push sends nothing twice.
    server = await serve(serverRoot, `127.0.0.1:${port}`, tokenFile);
    const push = runCli(['--root', rootB, 'history', 'push', '--report-to', server.url, '--json'], { env: reportEnv });
    assert.equal(push.status, 0, push.stderr);
    assert.equal((JSON.parse(push.stdout) as { delivered: string[] }).delivered.length, 1);
    // And a build of A reports itself (A's queue is empty); its trace goes to an OTLP receiver.
    const spansFile = join(env.work, 'spans.jsonl');
    const receiver = await otlpReceiver(spansFile);
    const a3 = env.build(['--report-to', server.url, dir], { root: rootA, env: { ...reportEnv, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
    receiver.stop();
    assert.equal(a3.status, 0, a3.stderr);
    const exported = new Set(readFileSync(spansFile, 'utf8').trim().split('\n').flatMap((line) => (JSON.parse(line) as { resourceSpans: { scopeSpans: { spans: { traceId: string }[] }[] }[] })
      .resourceSpans.flatMap((r) => r.scopeSpans.flatMap((scope) => scope.spans.map((span) => span.traceId)))));
    const a3Shown = HistoryShown.parse(JSON.parse(runCli(['--root', rootA, 'history', 'show', '--json', '^1']).stdout));
    assert.deepEqual([...exported], [a3Shown.build.traceId], 'the history holds the id of the trace the build exported');
    // A wrong token is refused (401) and the record stays queued.
    const refused = runCli(['--root', rootA, 'history', 'push', '--report-to', server.url, '^1'], { env: { ...process.env, STAGECRAFT_REPORT_TOKEN: 'not-the-token-at-all' } });
    assert.equal(refused.status, 7, refused.stderr);
    assert.match(refused.stderr, /HTTP 401/);

    const local = [rootA, rootB].flatMap((root) => z.array(Build).parse(JSON.parse(runCli(['--root', root, 'history', 'ls', '--json']).stdout)));
    const remote = Page_.parse(await getJson(`${server.url}/api/builds?limit=500`));
    assert.equal(remote.total, 5);
    assert.deepEqual(remote.builds.map((b) => b.id).sort(), local.map((b) => b.id).sort(), 'the server holds each build of both builders once');
    assert.deepEqual(remote.builds.map((b) => b.status).sort(), ['failed', 'failed', 'success', 'success', 'success']);
  });

  it('shows the history in each view of the dashboard, numbers as recorded, markup as text', { timeout: 120_000 }, async () => {
    assert.ok(server !== undefined);
    const base = server.url;
    const all = Page_.parse(await getJson(`${base}/api/builds?limit=500`)).builds;
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
    const page: Page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    const open = async (hash: string, shot: string): Promise<void> => {
      await page.goto(`${base}/${hash}`);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
      await page.screenshot({ path: join(ARTIFACTS, `${shot}.png`), fullPage: true });
    };

    // Executive: totals and rates as the records say.
    await open('#/exec', 'executive');
    const successes = all.filter((b) => b.status === 'success');
    assert.equal(await page.textContent('.kpi-total .value'), String(all.length));
    assert.equal(await page.textContent('.kpi-success-rate .value'), pct(successes.length, all.length));
    const cached = all.reduce((s, b) => s + b.steps.cached, 0);
    const executed = all.reduce((s, b) => s + b.steps.executed, 0);
    assert.equal(await page.textContent('.kpi-cache .value'), pct(cached, cached + executed));
    const durations = successes.map((b) => b.endedAt - b.startedAt).sort((x, y) => x - y);
    assert.equal(await page.textContent('.kpi-p50 .value'), `${((durations[1] ?? 0) / 1000).toFixed(1)} s`, 'the median of three successful builds');
    assert.equal(await page.locator('#chart-success canvas').count(), 1, 'uPlot drew the success-rate chart');
    assert.equal(await page.locator('#chart-size canvas').count(), 1);
    assert.equal(await page.locator('.project-row').count(), 1, 'one project (the context directory), one target');
    // Provenance coverage (M10) over the successful builds, as recorded.
    const proven = successes.filter((b) => b.supplyChain?.provenance === true).length;
    assert.equal(await page.textContent('.kpi-provenance .value'), `${pct(proven, successes.length)} (${proven}/${successes.length})`);
    assert.equal(await page.locator('#vulns-none').count(), 1, 'no build was scanned');
    // /metrics from the same history.
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const counted = [...metrics.matchAll(/^stagecraft_builds_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    assert.equal(counted, all.length);

    // On-call: the latest build of the project succeeded (nothing failing now); two failures grouped; the test stage's failure.
    await open('#/oncall', 'oncall');
    const failed = all.filter((b) => b.status === 'failed');
    assert.equal(await page.locator('.failing-row').count(), 0);
    assert.equal(await page.textContent('.failure-group td:nth-child(2)'), String(failed.length));
    assert.deepEqual((await page.locator('.test-failure a').allTextContents()).sort(), failed.map((b) => b.id.slice(0, 12)).sort());

    // Debug: recent builds with their image digests, the last success's provenance.
    await open('#/debug', 'debug');
    for (const b of all) {
      assert.equal(await page.textContent(`.recent-row[data-build="${b.id}"] .digest`), b.image?.digest ?? '–');
    }
    assert.ok((await page.locator('.cache-row').count()) > 0);
    // Cache keys on the page as the history has them: per key, the builds it was seen in and its hits (both builders' records).
    const show = (id: string): Shown => {
      const found = [rootA, rootB].map((root) => runCli(['--root', root, 'history', 'show', '--json', id])).find((run) => run.status === 0);
      assert.ok(found !== undefined, `build ${id} is in the history of builder A or B`);
      return HistoryShown.parse(JSON.parse(found.stdout));
    };
    const shownAll = all.map((b) => show(b.id));
    const perKey = new Map<string, { builds: Set<string>; hits: number }>();
    for (const record of shownAll) {
      for (const step of record.steps) {
        if (step.cacheKey === undefined) continue;
        const entry = perKey.get(step.cacheKey) ?? { builds: new Set<string>(), hits: 0 };
        entry.builds.add(record.build.id);
        if (step.status === 'cached') entry.hits++;
        perKey.set(step.cacheKey, entry);
      }
    }
    const hitKey = [...perKey.entries()].find(([, e]) => e.hits >= 2)?.[0];
    assert.ok(hitKey !== undefined, 'a key that hit in later builds');
    for (const [key, entry] of [...perKey.entries()].filter(([k]) => k === hitKey).concat([...perKey.entries()].slice(0, 3))) {
      const row = page.locator(`.cache-row[data-key="${key}"]`);
      assert.equal(await row.count(), 1, key);
      assert.equal(await row.locator('.cache-key').getAttribute('title'), key, 'the whole key on hover');
      assert.equal(await row.locator('.cache-key').textContent(), `${key.slice(0, 19)}…`);
      assert.equal(await row.locator('.seen').textContent(), `key seen in ${entry.builds.size} build${entry.builds.size === 1 ? '' : 's'}, hit ${entry.hits}`);
      assert.equal(await row.locator('.hits').textContent(), String(entry.hits));
    }
    assert.equal(await page.textContent('.provenance dd a'), successes.sort((x, y) => y.startedAt - x.startedAt)[0]?.id);

    // The build with the markup line: shown as text, never run; layers per Dockerfile line as recorded.
    const hostile = all.find((b) => b.status === 'success');
    assert.ok(hostile !== undefined);
    const withMarkup = (await Promise.all(all.filter((b) => b.status === 'success').map(async (b) => ({ b, layers: Layers.parse(await getJson(`${base}/api/layers/${b.id}`)) }))))
      .find((x) => x.layers.layers.some((l) => l.name.includes('<script>')));
    assert.ok(withMarkup !== undefined);
    await open(`#/build/${withMarkup.b.id}`, 'build');
    assert.equal(await page.textContent('#build-id'), withMarkup.b.id);
    assert.ok((await page.textContent('#build-layers'))?.includes(HOSTILE), 'the Dockerfile line is shown literally');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned), undefined, 'no injected script ran');
    assert.equal(await page.locator('#build-layers img, #build-layers script, main img').count(), 0);
    assert.equal(await page.locator('.layer-row').count(), withMarkup.layers.layers.length);
    const sizes = (await Promise.all((await page.locator('.layer-row').all()).map((row) => row.getAttribute('data-size')))).map(Number);
    assert.deepEqual(sizes, withMarkup.layers.layers.map((l) => l.size));
    assert.ok((await page.locator('.wf-row').count()) >= 4, 'a waterfall row per step');
    assert.ok((await page.textContent('#build-logs'))?.includes('testing'), 'the step output');
    const markupSteps = shownAll.find((r) => r.build.id === withMarkup.b.id)?.steps ?? [];
    assert.ok(markupSteps.length > 0);
    for (const step of markupSteps) {
      assert.equal(await page.locator(`.cache-step[data-seq="${step.seq}"] .cache-key`).getAttribute('title'), step.cacheKey ?? null, `step ${step.seq}`);
    }

    // The traced build's page shows its trace id, linked to the trace viewer.
    const traced = shownAll.find((r) => r.build.traceId !== undefined);
    assert.ok(traced?.build.traceId !== undefined, 'one build was traced');
    await open(`#/build/${traced.build.id}`, 'build-traced');
    assert.equal(await page.textContent('#build-trace'), traced.build.traceId);
    assert.equal(await page.getAttribute('#build-trace a', 'href'), TRACE_VIEWER.replace('{traceId}', traced.build.traceId));

    assert.deepEqual(errors, [], 'no page errors');
  });
});

/**
 * `stagecraft history stats` and `history annotate` over real builds (a registry, busybox, runc):
 * the SLIs agree with the records `history ls/show --json` print, base-image pulls are recorded,
 * bad flags fail before any work.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';
import { HistoryList, HistoryShown } from '../helpers/history-json.js';
import { MODULE_LOG_HOOK, packagesOf } from '../helpers/module-log.js';

const Ratio = z.object({ value: z.number().nullable(), numerator: z.number(), denominator: z.number() });
const Report = z.object({
  builds: z.object({ total: z.number(), success: z.number(), failed: z.number(), cancelled: z.number() }),
  failures: z.array(z.object({ code: z.string(), count: z.number() })),
  successRate: Ratio,
  buildTimeMs: z.object({ count: z.number(), p50: z.number().nullable(), p95: z.number().nullable() }),
  cacheHitRate: Ratio,
  timeToFixMs: z.object({ fixed: z.number(), open: z.number(), mean: z.number().nullable(), median: z.number().nullable() }),
  promotionRate: z.union([z.object({ status: z.literal('unknown'), reason: z.string() }), z.object({ status: z.literal('known'), rate: Ratio })]),
  pullLatencyMs: z.object({ count: z.number(), p50: z.number().nullable() }),
  provenanceCoverage: Ratio,
  vulnerabilities: z.unknown(),
}).passthrough();

describe('history stats: SLIs over real builds', () => {
  let env: BuildEnv;
  let root: string;
  let dir: string;
  const cli = (args: readonly string[]): ReturnType<typeof runCli> => runCli(['--root', root, ...args]);
  const ok = (args: readonly string[]): ReturnType<typeof runCli> => {
    const run = cli(args);
    assert.equal(run.status, 0, `${args.join(' ')}: ${run.stderr}`);
    return run;
  };

  before(async () => {
    env = await startBuildEnv();
    root = await env.newRoot();
    dir = join(env.work, 'stats');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), 'file\n');
  });
  after(async () => {
    await env.close();
  });

  it('success, failure, fix: success rate, time to fix, cache hits, pulls and provenance agree with the records; annotate feeds M7', { timeout: 120_000 }, () => {
    const dockerfile = join(dir, 'Dockerfile');
    writeFileSync(dockerfile, `FROM ${env.busybox}\nRUN echo one > /one\nCOPY f /f\n`);
    assert.equal(env.build(['-f', dockerfile, dir], { root }).status, 0);
    writeFileSync(dockerfile, `FROM ${env.busybox}\nRUN echo one > /one\nRUN exit 3\nCOPY f /f\n`);
    assert.notEqual(env.build(['-f', dockerfile, dir], { root }).status, 0);
    writeFileSync(dockerfile, `FROM ${env.busybox}\nRUN echo one > /one\nRUN echo fixed\nCOPY f /f\n`);
    assert.equal(env.build(['-f', dockerfile, dir], { root }).status, 0);

    const builds = HistoryList.parse(JSON.parse(ok(['history', 'ls', '--json']).stdout));
    assert.deepEqual(builds.map((b) => b.status), ['success', 'failed', 'success']);
    const [fixed, failed, first] = builds;
    const report = Report.parse(JSON.parse(ok(['history', 'stats', '--json']).stdout));
    assert.deepEqual(report.builds, { total: 3, success: 2, failed: 1, cancelled: 0 });
    assert.deepEqual(report.successRate, { value: 2 / 3, numerator: 2, denominator: 3 });
    assert.deepEqual(report.failures, [{ code: 'BUILD_STEP_FAILED', count: 1 }]);
    assert.equal(report.buildTimeMs.count, 2);
    assert.equal(report.buildTimeMs.p50, ((first?.endedAt ?? 0) - (first?.startedAt ?? 0) + (fixed?.endedAt ?? 0) - (fixed?.startedAt ?? 0)) / 2);
    assert.deepEqual(report.timeToFixMs, { fixed: 1, open: 0, mean: (fixed?.endedAt ?? 0) - (failed?.endedAt ?? 0), median: (fixed?.endedAt ?? 0) - (failed?.endedAt ?? 0) });
    assert.equal(report.cacheHitRate.numerator, builds.reduce((n, b) => n + b.steps.cached, 0));
    assert.equal(report.cacheHitRate.denominator, builds.reduce((n, b) => n + b.steps.total, 0));
    assert.ok(report.cacheHitRate.numerator >= 2, 'the RUN of the first build was a cache hit in the later ones');
    // buildx's default: provenance (mode=min) on every image.
    assert.deepEqual(report.provenanceCoverage, { value: 1, numerator: 2, denominator: 2 });
    assert.equal(report.vulnerabilities, null, 'no scan: no data, not zero');
    // The first build of a fresh root pulled busybox from the registry.
    const shown = HistoryShown.parse(JSON.parse(ok(['history', 'show', first?.id ?? '', '--json']).stdout));
    assert.equal(shown.pulls.length, 1, JSON.stringify(shown.pulls));
    assert.equal(shown.pulls[0]?.ref, `${env.registry.host}/busybox`);
    assert.ok((shown.pulls[0]?.bytes ?? 0) > 100_000 && (shown.pulls[0]?.blobs ?? 0) >= 2, JSON.stringify(shown.pulls));
    assert.equal(report.pullLatencyMs.count, 1);
    assert.equal(report.pullLatencyMs.p50, shown.pulls[0]?.durationMs);
    assert.equal(report.promotionRate.status, 'unknown');
    // The RUN both builds share: the fixed build hit the key the first one saved.
    const runOne = (shownBuild: typeof shown): (typeof shown.steps)[number] | undefined => shownBuild.steps.find((s) => s.name.includes('RUN echo one'));
    const fixedShown = HistoryShown.parse(JSON.parse(ok(['history', 'show', fixed?.id ?? '', '--json']).stdout));
    assert.equal(runOne(shown)?.status, 'done');
    assert.equal(runOne(fixedShown)?.status, 'cached');
    assert.match(runOne(shown)?.cacheKey ?? '', /^sha256:[0-9a-f]{64}$/);
    assert.equal(runOne(fixedShown)?.cacheKey, runOne(shown)?.cacheKey);

    const text = ok(['history', 'stats']).stdout;
    assert.match(text, /^Builds: 3 \(2 succeeded, 1 failed, 0 cancelled\), all projects/);
    assert.match(text, /M1 +success rate +66\.7% \(2 of 3 finished builds\)/);
    assert.match(text, /M5 +vulnerabilities +no data \(no build scanned for vulnerabilities\)/);
    assert.match(text, /M6 +time to fix +mean .* \(1 fixed\)/);
    assert.match(text, /M7 +promotion rate +unknown: a builder cannot know/);
    assert.match(text, /Failures by error code: BUILD_STEP_FAILED 1/);
    const byProject = ok(['history', 'stats', '--by', 'project']).stdout.split('\n');
    assert.match(byProject[0] ?? '', /^PROJECT +BUILDS +SUCCESS +P50 +P95/);
    assert.ok(byProject[1]?.startsWith(first?.project ?? '?'), byProject.join('\n'));
    assert.match(byProject[1] ?? '', / 3 +66\.7% /);

    assert.equal(ok(['history', 'annotate', '^1', 'promoted=true']).stdout, `${fixed?.id ?? ''} promoted=true\n`);
    const annotated = Report.parse(JSON.parse(ok(['history', 'stats', '--json']).stdout));
    assert.deepEqual(annotated.promotionRate, { status: 'known', rate: { value: 1, numerator: 1, denominator: 1 } });
    // A window that ends before the builds: nothing.
    const empty = Report.parse(JSON.parse(ok(['history', 'stats', '--json', '--until', '2020-01-01']).stdout));
    assert.equal(empty.builds.total, 0);
    assert.equal(empty.successRate.value, null);
    const recent = Report.parse(JSON.parse(ok(['history', 'stats', '--json', '--since', '1h', '--project', first?.project ?? '']).stdout));
    assert.equal(recent.builds.total, 3);
  });

  it('bad flags are usage errors naming the flag and the fix', () => {
    for (const [args, pattern] of [
      [['--since', '7x'], /invalid --since "7x"[\s\S]*7d/],
      [['--until', 'yesterday'], /invalid --until "yesterday"/],
      [['--by', 'stage'], /invalid --by "stage"[\s\S]*--by project or --by target/],
      [['--since', '1h', '--until', '2h'], /--since 1h is not before --until 2h/],
    ] as const) {
      const run = cli(['history', 'stats', ...args]);
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, pattern);
    }
    const bad = cli(['history', 'annotate', '^1', 'deployed=yes']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown annotation "deployed=yes"[\s\S]*promoted=true or promoted=false/);
  });

  it('a warm build without an OTLP endpoint never loads the OpenTelemetry SDK or prom-client; with one it does', { timeout: 60_000 }, () => {
    // A module hook logging every module the CLI requires or resolves (NODE_OPTIONS reaches the built binary).
    const hook = join(env.work, 'import-log-hook.mjs');
    const log = join(env.work, 'imports.log');
    writeFileSync(hook, MODULE_LOG_HOOK);
    const dockerfile = join(dir, 'Dockerfile.lazy');
    writeFileSync(dockerfile, `FROM ${env.busybox}\nCOPY f /f\n`);
    const runEnv = (extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv => {
      const base: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--import ${hook}`, STAGECRAFT_TEST_MODULE_LOG: log };
      for (const key of Object.keys(base)) if (key.startsWith('OTEL_')) delete base[key];
      return { ...base, ...extra };
    };
    assert.equal(env.build(['-f', dockerfile, dir], { root }).status, 0);
    writeFileSync(log, '');
    const warm = env.build(['-f', dockerfile, dir], { root, env: runEnv({}) });
    assert.equal(warm.status, 0, warm.stderr);
    const loaded = [...packagesOf(readFileSync(log, 'utf8'))];
    assert.ok(loaded.includes('better-sqlite3'), `the hook saw the external modules the CLI loads: ${loaded.join(', ')}`);
    assert.deepEqual(loaded.filter((name) => name.startsWith('@opentelemetry/') || name === 'prom-client'), []);

    writeFileSync(log, '');
    const traced = env.build(['-f', dockerfile, dir], { root, env: runEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }) });
    assert.equal(traced.status, 0, traced.stderr);
    assert.ok(existsSync(log));
    assert.ok(packagesOf(readFileSync(log, 'utf8')).has('@opentelemetry/sdk-trace-base'));
    assert.ok(traced.events.some((e) => e.type === 'build.warning' && /trace could not be exported to http:\/\/127\.0\.0\.1:9\/v1\/traces/.test(e.message)), traced.stderr);
  });
});

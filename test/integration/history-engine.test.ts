import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { hostPlatform } from '../../src/core/index.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { RecordingSink, type BuildEvent, type EventSink } from '../../src/events/index.js';
import { historyStats } from '../../src/history/index.js';

/** Builds through the library (no CLI): FROM scratch and COPY steps need no registry and no runc. */
describe('history: builds through the library are recorded', () => {
  let work: string;
  let context: string;
  let engine: Engine;
  const platform = hostPlatform(process.arch);
  const options = (text: string, events: EventSink, signal?: AbortSignal) => ({
    contextDir: context, dockerfile: { path: join(context, 'Dockerfile'), text }, buildArgs: new Map<string, string>(), platform, buildPlatform: platform,
    secrets: new Map<string, Buffer>(), ssh: new Map<string, string>(), tags: [], outputs: [], push: false, noCache: false, noCacheFilter: [], pull: false,
    network: 'default' as const, labels: new Map<string, string>(), events, signal,
  });

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-history-engine-'));
    context = join(work, 'ctx');
    await mkdir(context);
    await writeFile(join(context, 'a'), 'a\n'.repeat(5000));
    engine = createEngine(loadConfig({ env: { STAGECRAFT_ROOT: join(work, 'root') }, flags: {} }));
  });
  after(async () => {
    engine.close();
    await rm(work, { recursive: true, force: true });
  });

  it('a success with its image and step layers, a Dockerfile error with its code and line, and an abort with a reason of the caller\'s own', async () => {
    const sink = new RecordingSink();
    const built = await engine.build(options('FROM scratch\nCOPY a /a\n', sink));
    const completed = sink.events.find((e): e is Extract<BuildEvent, { type: 'build.completed' }> => e.type === 'build.completed');
    assert.deepEqual(completed?.image, { digest: built.manifestDigest, configDigest: built.configDigest, size: built.size }, 'build.completed carries the image');

    await assert.rejects(engine.build(options('FROM scratch\nCOPY a /a\nBOGUS x\n', new RecordingSink())), /BOGUS/);

    const controller = new AbortController();
    const aborting: EventSink = { emit: (event) => { if (event.type === 'build.started') controller.abort(new Error('the caller changed its mind')); } };
    await assert.rejects(engine.build(options('FROM scratch\nCOPY a /b\n', aborting, controller.signal)), /changed its mind/);

    const store = await engine.buildHistory();
    const [cancelled, failed, success] = store.list();
    assert.equal(success?.status, 'success');
    assert.equal(success?.image?.digest, built.manifestDigest);
    assert.equal(success?.project, context);
    const steps = store.get(success?.id ?? '')?.steps ?? [];
    const copy = steps.find((s) => s.name.includes('COPY a /a'));
    assert.equal(copy?.location?.line, 2);
    assert.ok((copy?.layer?.size ?? 0) > 10_000, JSON.stringify(copy));
    assert.equal(failed?.status, 'failed');
    assert.equal(failed?.error?.location?.line, 3);
    assert.match(failed?.error?.code ?? '', /^DOCKERFILE_/);
    assert.equal(cancelled?.status, 'cancelled');
    assert.equal(cancelled?.error?.code, 'ABORTED');
  });

  it('a fully cached build records every step of the plan as cached; attestations are recorded; the SLIs match the records', async () => {
    await writeFile(join(context, 'b'), 'b\n'.repeat(3000));
    const text = 'FROM scratch AS base\nCOPY a /a\nFROM base\nCOPY b /b\nCOPY a /c\n';
    const attest = { sbom: { scanStage: false, scanContext: false }, provenance: { mode: 'max' as const, version: 'v1' as const } };
    await engine.build({ ...options(text, new RecordingSink()), attest });
    const sink = new RecordingSink();
    const second = await engine.build({ ...options(text, sink), attest });
    assert.equal(second.executed, 0);
    const store = await engine.buildHistory();
    const [warm, cold] = store.list({ limit: 2 });
    const coldSteps = store.get(cold?.id ?? '')?.steps ?? [];
    const warmSteps = store.get(warm?.id ?? '')?.steps ?? [];
    // The solver reports only the cached target step of a warm build; the record has them all.
    assert.ok(sink.events.filter((e) => e.type === 'vertex.cached').length < coldSteps.length, 'the solver skipped inputs of the cached root');
    assert.deepEqual(warmSteps.map((s) => s.name).sort(), coldSteps.map((s) => s.name).sort());
    assert.ok(warmSteps.every((s) => s.status === 'cached'), JSON.stringify(warmSteps));
    assert.equal(warm?.steps.cached, warmSteps.length);
    assert.equal(warmSteps.find((s) => s.name.includes('COPY b /b'))?.location?.line, 4);
    assert.deepEqual(warm?.supplyChain, { sbom: true, provenance: true, signed: false, sbomPackages: { total: 0, purl: 0, license: 0 } });

    const all = store.list();
    const stats = historyStats(store, {});
    assert.equal(stats.builds.total, all.length);
    assert.equal(stats.builds.success, all.filter((b) => b.status === 'success').length);
    assert.equal(stats.cacheHitRate.numerator, all.reduce((sum, b) => sum + b.steps.cached, 0));
    assert.equal(stats.cacheHitRate.denominator, all.reduce((sum, b) => sum + b.steps.total, 0));
    assert.equal(stats.imageSize.latest?.id, warm?.id);
    assert.equal(stats.imageSize.latest?.bytes, second.size);
    const times = all.filter((b) => b.status === 'success').map((b) => b.endedAt - b.startedAt).sort((x, y) => x - y);
    assert.equal(stats.buildTimeMs.p50, times.length % 2 === 1 ? times[(times.length - 1) / 2] : ((times[times.length / 2 - 1] ?? 0) + (times[times.length / 2] ?? 0)) / 2);
    assert.deepEqual([stats.sbom.coverage.numerator, stats.sbom.coverage.denominator], [2, 3]);
  });
});

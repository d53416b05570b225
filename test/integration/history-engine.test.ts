import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/index.js';
import { hostPlatform } from '../../src/core/index.js';
import { createEngine, type Engine } from '../../src/engine/index.js';
import { RecordingSink, type BuildEvent, type EventSink } from '../../src/events/index.js';

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
});

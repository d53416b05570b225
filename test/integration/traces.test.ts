/**
 * OTLP/HTTP traces of real builds (a registry with busybox, runc) received by an in-process OTLP
 * receiver on 127.0.0.1: the root span, one span per step named like the vertex with `vertex`, the
 * `load cache:` children of cached steps, `resolving <ref>`, pulls, attestations and exporters;
 * a failing step and its build with status Error. Without an endpoint no span is sent.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { loadConfig } from '../../src/config/index.js';
import { hostPlatform } from '../../src/core/index.js';
import { createEngine } from '../../src/engine/index.js';
import { RecordingSink } from '../../src/events/index.js';
import { makeBusyboxImage, pushLayout } from '../helpers/base-image.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

const AnyValue = z.object({ stringValue: z.string().optional(), intValue: z.union([z.string(), z.number()]).optional(), boolValue: z.boolean().optional(), doubleValue: z.number().optional() }).passthrough();
const OtlpSpan = z.object({
  traceId: z.string(), spanId: z.string(), parentSpanId: z.string().optional(), name: z.string(),
  startTimeUnixNano: z.union([z.string(), z.number()]), endTimeUnixNano: z.union([z.string(), z.number()]),
  attributes: z.array(z.object({ key: z.string(), value: AnyValue })).default([]),
  events: z.array(z.object({ name: z.string(), attributes: z.array(z.object({ key: z.string(), value: AnyValue })).default([]) }).passthrough()).default([]),
  status: z.object({ code: z.number().optional(), message: z.string().optional() }).passthrough().optional(),
}).passthrough();
const OtlpRequest = z.object({
  resourceSpans: z.array(z.object({
    resource: z.object({ attributes: z.array(z.object({ key: z.string(), value: AnyValue })) }).passthrough(),
    scopeSpans: z.array(z.object({ spans: z.array(OtlpSpan) }).passthrough()),
  }).passthrough()),
});
type Span = z.infer<typeof OtlpSpan>;
const STATUS_ERROR = 2;

const attr = (span: Span | undefined, key: string): string | number | boolean | undefined => {
  const value = span?.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue)) ?? value?.boolValue ?? value?.doubleValue;
};

describe('traces: OTLP/HTTP spans of real builds', () => {
  let work: string;
  let registry: TestRegistry;
  let busybox: string;
  let receiver: Server;
  let endpoint: string;
  const received: { path: string; contentType: string; spans: Span[]; service: string }[] = [];

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'stagecraft-traces-'));
    registry = await startRegistry();
    busybox = `${registry.host}/busybox:latest`;
    pushLayout(await makeBusyboxImage(work), busybox);
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = OtlpRequest.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        for (const rs of body.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
          received.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', spans: rs.scopeSpans.flatMap((s) => s.spans), service });
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const address = receiver.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    endpoint = `http://127.0.0.1:${address.port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    await registry.stop();
    await rm(work, { recursive: true, force: true });
  });

  const platform = hostPlatform(process.arch);
  const options = (context: string, text: string) => ({
    contextDir: context, dockerfile: { path: join(context, 'Dockerfile'), text }, buildArgs: new Map<string, string>(), platform, buildPlatform: platform,
    secrets: new Map<string, Buffer>(), ssh: new Map<string, string>(), tags: ['traced:1'], outputs: [], push: false, noCache: false, noCacheFilter: [], pull: false,
    network: 'default' as const, labels: new Map<string, string>(), events: new RecordingSink(),
  });

  it('a cold build, a warm build and a failing build: names, parents, attributes, error status', { timeout: 120_000 }, async () => {
    const context = join(work, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'f'), 'file\n');
    let executed = -1;
    let recorded: (string | undefined)[] = [];
    const engine = createEngine(loadConfig({ env: { STAGECRAFT_ROOT: join(work, 'root'), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }, flags: {} }));
    try {
      const text = `FROM ${busybox}\nRUN echo built > /built\nCOPY f /f\n`;
      const attest = { sbom: { scanStage: false, scanContext: false }, provenance: { mode: 'max' as const, version: 'v1' as const } };
      executed = (await engine.build({ ...options(context, text), attest })).executed;
      await engine.build(options(context, text));
      await assert.rejects(engine.build(options(context, `FROM ${busybox}\nRUN echo failing; exit 7\n`)), /exit code: 7/);
      recorded = (await engine.buildHistory()).list({ limit: 10 }).map((b) => b.traceId);
    } finally {
      engine.close();
    }
    assert.ok(received.every((r) => r.path === '/v1/traces' && r.contentType.startsWith('application/json') && r.service === 'stagecraft'), JSON.stringify(received.map((r) => [r.path, r.contentType, r.service])));
    const spans = received.flatMap((r) => r.spans);
    const traces = [...new Set(spans.map((s) => s.traceId))];
    assert.equal(traces.length, 3, 'one trace per build');
    assert.deepEqual([...recorded].sort(), [...traces].sort(), 'each build\'s history record holds the id of its trace');
    const [cold, warm, failing] = traces.map((id) => spans.filter((s) => s.traceId === id)).sort((a, b) => Number(BigInt(a[0]?.startTimeUnixNano ?? 0) - BigInt(b[0]?.startTimeUnixNano ?? 0)));
    const byName = (list: Span[] | undefined, name: string | RegExp): Span | undefined => list?.find((s) => (typeof name === 'string' ? s.name === name : name.test(s.name)));

    for (const list of [cold, warm, failing]) {
      const roots = (list ?? []).filter((s) => s.parentSpanId === undefined || s.parentSpanId === '');
      assert.equal(roots.length, 1, JSON.stringify(list?.map((s) => [s.name, s.parentSpanId])));
      assert.equal(roots[0]?.name, 'build');
      assert.match(String(attr(roots[0], 'build.id')), /^[0-9a-f]{16}$/);
    }
    const coldRoot = byName(cold, 'build');
    const run = byName(cold, /^\[1\/3\] RUN echo built > \/built$|RUN echo built/);
    assert.ok(run !== undefined, JSON.stringify(cold?.map((s) => s.name)));
    assert.equal(run.parentSpanId, coldRoot?.spanId);
    assert.match(String(attr(run, 'vertex')), /^sha256:[0-9a-f]{64}$/);
    assert.equal(attr(run, 'cached'), false);
    assert.ok(BigInt(run.endTimeUnixNano) > BigInt(run.startTimeUnixNano));
    for (const name of [`resolving ${busybox}`, `pull ${registry.host}/busybox`, 'create sbom attestation', 'create provenance attestation', 'exporting to image']) {
      const span = byName(cold, name);
      assert.ok(span !== undefined, `${name} in ${JSON.stringify(cold?.map((s) => s.name))}`);
      assert.equal(span.parentSpanId, coldRoot?.spanId, name);
    }
    assert.equal(attr(coldRoot, 'build.steps.executed'), executed);
    assert.ok(executed >= 2);

    // The warm build's cached step has its `load cache:` child.
    const cachedStep = (warm ?? []).find((s) => attr(s, 'cached') === true);
    assert.ok(cachedStep !== undefined, JSON.stringify(warm?.map((s) => s.name)));
    const load = byName(warm, `load cache: ${cachedStep.name}`);
    assert.equal(load?.parentSpanId, cachedStep.spanId);
    assert.equal(byName(warm, 'create sbom attestation'), undefined, 'no SBOM asked for');

    const failedRoot = byName(failing, 'build');
    assert.equal(failedRoot?.status?.code, STATUS_ERROR);
    assert.equal(attr(failedRoot, 'error.code'), 'BUILD_STEP_FAILED');
    const failedStep = byName(failing, /RUN echo failing; exit 7/);
    assert.equal(failedStep?.status?.code, STATUS_ERROR);
    assert.match(failedStep?.status?.message ?? '', /exit code: 7/);
    assert.ok(failedStep?.events.some((e) => e.name === 'exception'));
    assert.equal(Number(failedStep?.events.find((e) => e.name === 'Container exited')?.attributes.find((a) => a.key === 'exit.code')?.value.intValue), 7);
  });

  it('without an endpoint no span is sent; a collector that is down is one warning and the build succeeds', { timeout: 60_000 }, async () => {
    const context = join(work, 'ctx2');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'g'), 'g\n');
    const before = received.length;
    const plain = createEngine(loadConfig({ env: { STAGECRAFT_ROOT: join(work, 'root') }, flags: {} }));
    try {
      await plain.build(options(context, 'FROM scratch\nCOPY g /g\n'));
    } finally {
      plain.close();
    }
    assert.equal(received.length, before);

    const down = createEngine(loadConfig({ env: { STAGECRAFT_ROOT: join(work, 'root'), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:9/v1/traces' }, flags: {} }));
    const events = new RecordingSink();
    try {
      await down.build({ ...options(context, 'FROM scratch\nCOPY g /h\n'), events });
    } finally {
      down.close();
    }
    const warnings = events.events.filter((e) => e.type === 'build.warning').map((e) => (e.type === 'build.warning' ? e.message : ''));
    assert.ok(warnings.some((w) => /trace could not be exported to http:\/\/127\.0\.0\.1:9\/v1\/traces/.test(w)), warnings.join('\n'));
    assert.ok(events.events.some((e) => e.type === 'build.completed'));
  });
});

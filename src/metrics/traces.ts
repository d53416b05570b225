/**
 * OpenTelemetry traces of a build, fed from its events (an EventSink beside the history recorder) and
 * from the engine's timed phases (`BuildTracer.span`). Span names follow BuildKit's: a root span per
 * build; one span per step named like the vertex (`[build 2/3] RUN make`) with the attribute
 * `vertex`; under a cached step `load cache: <name>`; `resolving <ref>` for a base image's
 * manifest; `pull <ref>` per blob pulled; one span per exporter named after it (`exporting to
 * image`); `create sbom attestation`, `create provenance attestation`. Failures are recorded as an
 * exception event with status Error.
 *
 * The OTel SDK (28 MB) is loaded with `import()` only when an endpoint is configured
 * (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`, read by config/); a build
 * without one never loads it. Export is OTLP/HTTP (JSON). A collector that is down costs at most the
 * export timeout after the build and one warning; it never fails the build.
 */
import type * as OtelApi from '@opentelemetry/api';
import type { Span, Tracer, Context } from '@opentelemetry/api';
import type { BuildEvent, EventSink } from '../events/index.js';

export interface BuildTracerOptions {
  /** The OTLP/HTTP traces URL (`…/v1/traces`). */
  readonly endpoint: string;
  /** The resource's `service.name` (default `stagecraft`). */
  readonly serviceName?: string | undefined;
  readonly serviceVersion?: string | undefined;
  /** How long the export after the build may take (default 10 s). */
  readonly timeoutMs?: number | undefined;
}

/** A phase the engine timed (no event marks it): resolving, exporting, attesting. */
export interface TimedSpan {
  readonly name: string;
  readonly startedAt: number;
  readonly endedAt: number;
  readonly attributes?: Readonly<Record<string, string | number | boolean>> | undefined;
  /** The phase failed with this message. */
  readonly error?: string | undefined;
}

export interface BuildTracer extends EventSink {
  /** The build's trace id (32 hex digits) once `build.started` opened its root span. */
  readonly traceId: string | undefined;
  /** Adds a span the events do not mark, under the build's root span. */
  span(span: TimedSpan): void;
  /** Ends what is open and exports; resolves to an error message when the export failed. Call once, after the build. */
  close(): Promise<string | undefined>;
}

type Api = typeof OtelApi;

/** Loads the OTel SDK and makes a tracer for one build. */
export async function createBuildTracer(options: BuildTracerOptions): Promise<BuildTracer> {
  const [api, sdk, otlp, resources] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new otlp.OTLPTraceExporter({ url: options.endpoint, timeoutMillis: options.timeoutMs ?? 10_000 });
  const provider = new sdk.BasicTracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': options.serviceName ?? 'stagecraft', ...(options.serviceVersion === undefined ? {} : { 'service.version': options.serviceVersion }) }),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter, { exportTimeoutMillis: options.timeoutMs ?? 10_000 })],
  });
  const tracer = provider.getTracer('stagecraft', options.serviceVersion);
  return new EventTracer(api, tracer, async () => {
    try {
      await provider.forceFlush();
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      await provider.shutdown().catch(() => undefined);
    }
  });
}

const EXIT_CODE = /exit code: (\d+)/;

class EventTracer implements BuildTracer {
  readonly #api: Api;
  readonly #tracer: Tracer;
  readonly #flush: () => Promise<string | undefined>;
  #root: Span | undefined;
  #rootContext: Context | undefined;
  readonly #steps = new Map<string, Span>();
  #closed = false;

  constructor(api: Api, tracer: Tracer, flush: () => Promise<string | undefined>) {
    this.#api = api;
    this.#tracer = tracer;
    this.#flush = flush;
  }

  get traceId(): string | undefined {
    return this.#root?.spanContext().traceId;
  }

  #start(name: string, time: number, parent: Context | undefined, attributes: Record<string, string | number | boolean> = {}): Span {
    return this.#tracer.startSpan(name, { startTime: time, attributes }, parent ?? this.#api.ROOT_CONTEXT);
  }

  #fail(span: Span, message: string, time: number): void {
    span.recordException({ name: 'Error', message }, time);
    span.setStatus({ code: this.#api.SpanStatusCode.ERROR, message });
  }

  emit(event: BuildEvent): void {
    if (this.#closed) return;
    switch (event.type) {
      case 'build.started':
        if (this.#root !== undefined) return;
        this.#root = this.#start('build', event.time, undefined, { 'build.id': event.buildId, 'build.target': event.target });
        this.#rootContext = this.#api.trace.setSpan(this.#api.ROOT_CONTEXT, this.#root);
        return;
      case 'vertex.started':
      case 'vertex.cached': {
        if (this.#steps.has(event.vertex)) return;
        const span = this.#start(event.name, event.time, this.#rootContext, { vertex: event.vertex, ...(event.stage === undefined ? {} : { stage: event.stage }), ...(event.cacheKey === undefined ? {} : { 'cache.key': event.cacheKey }), cached: event.type === 'vertex.cached' });
        if (event.type === 'vertex.cached') {
          const load = this.#start(`load cache: ${event.name}`, event.time, this.#api.trace.setSpan(this.#api.ROOT_CONTEXT, span), { vertex: event.vertex });
          load.end(event.time);
          span.end(event.time);
        }
        this.#steps.set(event.vertex, span);
        return;
      }
      case 'cache.miss': {
        this.#steps.get(event.vertex)?.addEvent('cache miss', { 'cache.key': event.key, 'cache.miss.reasons': [...event.reasons] }, event.time);
        return;
      }
      case 'vertex.completed':
        this.#steps.get(event.vertex)?.end(event.time);
        return;
      case 'vertex.failed': {
        const span = this.#steps.get(event.vertex);
        if (span === undefined) return;
        const code = EXIT_CODE.exec(event.error)?.[1];
        if (code !== undefined) span.addEvent('Container exited', { 'exit.code': Number(code) }, event.time);
        this.#fail(span, event.error, event.time);
        span.end(event.time);
        return;
      }
      case 'vertex.canceled': {
        const span = this.#steps.get(event.vertex);
        if (span === undefined) return;
        this.#fail(span, 'canceled', event.time);
        span.end(event.time);
        return;
      }
      case 'transfer.completed': {
        if (event.outcome !== 'done' || this.#rootContext === undefined) return;
        const name = event.direction === 'pull' ? `pull ${event.ref}` : `push ${event.ref}`;
        const span = this.#start(name, event.time - event.durationMs, this.#rootContext, { digest: event.digest, kind: event.kind, bytes: event.bytes });
        span.end(event.time);
        return;
      }
      case 'build.completed':
      case 'build.failed': {
        const root = this.#root;
        if (root === undefined) return;
        // Steps still open stopped with the build.
        for (const span of this.#steps.values()) if (span.isRecording()) span.end(event.time);
        if (event.type === 'build.failed') {
          this.#fail(root, event.error, event.time);
          if (event.code !== undefined) root.setAttribute('error.code', event.code);
        } else {
          root.setAttributes({ 'build.steps.executed': event.executed, 'build.steps.cached': event.cached, ...(event.image === undefined ? {} : { 'image.digest': event.image.digest, 'image.size': event.image.size }) });
        }
        root.end(event.time);
        return;
      }
      case 'vertex.log':
      case 'vertex.progress':
      case 'transfer.started':
      case 'transfer.progress':
      case 'registry.retry':
      case 'build.warning':
        return;
    }
  }

  span(timed: TimedSpan): void {
    if (this.#closed || this.#rootContext === undefined) return;
    const span = this.#start(timed.name, timed.startedAt, this.#rootContext, { ...(timed.attributes ?? {}) });
    if (timed.error !== undefined) this.#fail(span, timed.error, timed.endedAt);
    span.end(timed.endedAt);
  }

  async close(): Promise<string | undefined> {
    if (this.#closed) return undefined;
    this.#closed = true;
    const now = Date.now();
    for (const span of this.#steps.values()) if (span.isRecording()) span.end(now);
    if (this.#root?.isRecording() === true) this.#root.end(now);
    return this.#flush();
  }
}

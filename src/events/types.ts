/**
 * The one progress model (DESIGN.md): libraries emit typed BuildEvents into an EventSink; renderers,
 * history and metrics subscribe. Times are epoch milliseconds. Versioned for the rawjson stream
 * (docs/progress-events.md).
 */
export const EVENT_SCHEMA_VERSION = 2;

export interface VertexRef {
  /** The vertex id (a digest). */
  readonly vertex: string;
}

/** Which way a blob goes: from a registry into the store, or out to a registry. */
export type TransferDirection = 'pull' | 'push';
/** What a transferred blob is (from its media type): an image's manifest or config, a layer, or another blob (cache metadata). */
export type TransferKind = 'manifest' | 'config' | 'layer' | 'blob';
/** How a transfer ended: bytes moved (`done`), already at the destination (`exists`), mounted from another repository (`mounted`). */
export type TransferOutcome = 'done' | 'exists' | 'mounted';

/**
 * One blob on its way to or from a registry. A transfer is named by `direction`, `ref` (the repository,
 * `127.0.0.1:5000/library/busybox`) and `digest`.
 */
export interface TransferRef {
  readonly direction: TransferDirection;
  readonly ref: string;
  readonly digest: string;
}

/**
 * `cacheKey` on `vertex.started`/`vertex.cached`: the step's cache key (`sha256:…`), the one looked up (a
 * hit on `vertex.cached`) or the one its result is saved under (a miss on `vertex.started`).
 */
export type BuildEvent =
  | { readonly type: 'build.started'; readonly time: number; readonly buildId: string; readonly target: string; readonly vertices: number }
  | ({ readonly type: 'vertex.started'; readonly time: number; readonly name: string; readonly stage?: string | undefined; readonly inputs: readonly string[]; readonly cacheKey?: string | undefined } & VertexRef)
  | ({
    readonly type: 'vertex.cached';
    readonly time: number;
    readonly name: string;
    readonly stage?: string | undefined;
    readonly cacheKey?: string | undefined;
    /** Why a step whose inputs changed is still cached (the files it selects from them did not change). */
    readonly reason?: string | undefined;
  } & VertexRef)
  | ({ readonly type: 'vertex.log'; readonly time: number; readonly stream: 'stdout' | 'stderr'; readonly data: string } & VertexRef)
  | ({ readonly type: 'vertex.progress'; readonly time: number; readonly id: string; readonly current: number; readonly total?: number | undefined } & VertexRef)
  | ({ readonly type: 'vertex.completed'; readonly time: number; readonly durationMs: number } & VertexRef)
  | ({ readonly type: 'vertex.failed'; readonly time: number; readonly error: string; readonly durationMs: number } & VertexRef)
  | ({ readonly type: 'vertex.canceled'; readonly time: number } & VertexRef)
  | ({ readonly type: 'cache.miss'; readonly time: number; readonly key: string; readonly reasons: readonly string[] } & VertexRef)
  | ({ readonly type: 'transfer.started'; readonly time: number; readonly kind: TransferKind; readonly total: number } & TransferRef)
  | ({ readonly type: 'transfer.progress'; readonly time: number; readonly current: number; readonly total: number } & TransferRef)
  | ({ readonly type: 'transfer.completed'; readonly time: number; readonly kind: TransferKind; readonly outcome: TransferOutcome; readonly bytes: number; readonly total: number; readonly durationMs: number } & TransferRef)
  | { readonly type: 'registry.retry'; readonly time: number; readonly what: string; readonly reason: string; readonly attempt: number; readonly attempts: number; readonly delayMs: number }
  | {
    readonly type: 'build.warning';
    readonly time: number;
    readonly message: string;
    /** A build check's rule name (docs/checks.md), when the warning is one. */
    readonly rule?: string | undefined;
    /** Where in the Dockerfile. */
    readonly location?: { readonly file: string; readonly line: number; readonly column?: number | undefined } | undefined;
    /** The rule's documentation. */
    readonly url?: string | undefined;
    /** How to fix it. */
    readonly detail?: string | undefined;
  }
  | {
    readonly type: 'build.completed';
    readonly time: number;
    readonly durationMs: number;
    readonly executed: number;
    readonly cached: number;
    readonly image?: { readonly digest: string; readonly configDigest: string; readonly size: number } | undefined;
    /** The build's SOURCE_DATE_EPOCH (seconds) and where it came from; absent for a wall-clock build (`--reproducible=false`). */
    readonly epoch?: { readonly seconds: number; readonly source: 'SOURCE_DATE_EPOCH' | 'git' | 'base-image' | 'default' } | undefined;
  }
  | {
    readonly type: 'build.failed';
    readonly time: number;
    readonly durationMs: number;
    readonly error: string;
    /** The StagecraftError code (ABORTED when the build was cancelled). */
    readonly code?: string | undefined;
    /** Where in the Dockerfile it failed. */
    readonly location?: { readonly file: string; readonly line: number } | undefined;
    /** The failing step's vertex. */
    readonly vertex?: string | undefined;
  };

export type BuildEventType = BuildEvent['type'];

/** Receives events. Implementations must not throw and must not block (buffer if needed). */
export interface EventSink {
  emit(event: BuildEvent): void;
}

export const nullSink: EventSink = { emit: () => undefined };

/** Sends every event to each of `sinks`. */
export function tee(...sinks: readonly EventSink[]): EventSink {
  return { emit: (event) => { for (const sink of sinks) sink.emit(event); } };
}

/** Keeps every event (tests, replay, history). */
export class RecordingSink implements EventSink {
  readonly events: BuildEvent[] = [];
  emit(event: BuildEvent): void {
    this.events.push(event);
  }
}

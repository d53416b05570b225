/**
 * `HistoryRecorder`: an EventSink in front of the build's own sink. It keeps what the events say
 * about the build (steps, cache hits and miss reasons, warnings, the full step output, the outcome)
 * and, when the build's last event (`build.completed` / `build.failed`) arrives, writes the record
 * in one transaction before passing that event on.
 *
 * Recording never fails or blocks a build: a history it cannot open (a newer schema, damaged
 * tables) or a write that fails becomes one `build.warning` and the build goes on unrecorded.
 */
import type { BuildEvent, EventSink } from '../events/index.js';
import { resolve } from 'node:path';
import { phaseTook } from '../core/index.js';
import { projectOf } from './project.js';
import { compressLog, decompressLog, type CompressedLog, type HistoryStore } from './store.js';
import { sbomCompleteness } from './sbom-facts.js';
import type { BuildRecord, BuildRequestFacts, BuildStatus, PullRecord, SourcePoint, StepRecord, StepStatus, SupplyChainRecord, WarningRecord } from './types.js';
import type { Severity } from '../scan/index.js';

/** The facts of the request that the events do not carry. */
export interface BuildRequest {
  readonly project: string;
  readonly context: string;
  readonly dockerfile: string;
  readonly platform: string;
  readonly facts: BuildRequestFacts;
}

/** What a build was asked to do, as the engine knows it. Secret and ssh values are never read. */
export interface BuildRequestInput {
  readonly contextDir: string;
  readonly dockerfile: string;
  readonly platform: string;
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly secrets: ReadonlyMap<string, unknown>;
  readonly ssh: ReadonlyMap<string, unknown>;
  readonly tags: readonly string[];
  readonly outputs: readonly string[];
  readonly noCache: boolean;
  readonly push: boolean;
}

/** The request facts a record keeps (build args, but secrets and ssh sockets by id only), the project found from git. */
export async function buildRequest(input: BuildRequestInput): Promise<BuildRequest> {
  return { ...requestFacts(input), project: await projectOf(input.contextDir) };
}

/** As `buildRequest`, with the context directory as the project (`HistoryRecorder.setProject` can name it later). */
export function requestFacts(input: BuildRequestInput): BuildRequest {
  return {
    project: resolve(input.contextDir),
    context: input.contextDir,
    dockerfile: input.dockerfile,
    platform: input.platform,
    facts: {
      buildArgs: [...input.buildArgs].map(([name, value]) => ({ name, value })),
      secrets: [...input.secrets.keys()],
      ssh: [...input.ssh.keys()],
      tags: [...input.tags],
      outputs: [...input.outputs],
      noCache: input.noCache,
      push: input.push,
    },
  };
}

export interface HistoryRecorderOptions {
  /** Opens the store when the build starts; may throw (the build then goes on unrecorded). */
  readonly open: () => HistoryStore;
  readonly request: BuildRequest;
  /** Where every event goes on to (the caller's sink). */
  readonly next: EventSink;
  /** The build's trace id when its trace is exported (asked when the record is written). */
  readonly traceId?: (() => string | undefined) | undefined;
}

interface StepState {
  readonly seq: number;
  readonly vertex: string;
  name: string;
  stage: string | undefined;
  status: StepStatus;
  startedAt: number;
  durationMs: number | undefined;
  missReasons: readonly string[];
  cacheKey: string | undefined;
  exitCode: number | undefined;
  error: string | undefined;
  /** Output while the step runs; deflated into `compressed` when it ends (memory: one step's output at a time per step running). */
  readonly log: Buffer[];
  compressed: CompressedLog | undefined;
}

const EXIT_CODE = /exit code: (\d+)/;

/** A step of the plan, as the engine tells it (`BuildObserver.planned`). */
export interface PlannedStep {
  readonly vertex: string;
  readonly name: string;
  readonly stage?: string | undefined;
}

/** An attestation the build made (`BuildObserver.attestations`): its kind and predicate. */
export interface MadeAttestation {
  readonly kind: 'sbom' | 'provenance' | 'vuln';
  readonly predicate: unknown;
}

/** The supply-chain facts as the pipeline reports them (`BuildObserver.supplyChain`, engine/build.ts). */
export interface SupplyChainInput {
  readonly sbom: boolean;
  readonly provenance: boolean;
  readonly signed: boolean;
  readonly vulns?: { readonly hasData: boolean; readonly counts: Readonly<Record<Severity, number>> } | undefined;
  readonly secrets?: number | undefined;
}

interface PullState {
  readonly ref: string;
  startedAt: number;
  endedAt: number;
  bytes: number;
  blobs: number;
}

export class HistoryRecorder implements EventSink {
  readonly #options: HistoryRecorderOptions;
  #store: HistoryStore | undefined;
  #buildId: string | undefined;
  #target = '';
  #startedAt = 0;
  readonly #steps = new Map<string, StepState>();
  readonly #warnings: WarningRecord[] = [];
  readonly #locations = new Map<string, SourcePoint>();
  readonly #layers = new Map<string, { digest: string; size: number }>();
  #planned: readonly PlannedStep[] = [];
  #attested: { sbom: boolean; provenance: boolean; sbomPackages: SupplyChainRecord['sbomPackages'] } | undefined;
  #supplyChain: SupplyChainInput | undefined;
  readonly #pulls = new Map<string, PullState>();
  #pushBytes = 0;
  #pushed = false;
  #done = false;
  #written = false;
  #project: string;
  /** How long the last write took, in ms (for the benchmark). */
  writeMs: number | undefined;

  constructor(options: HistoryRecorderOptions) {
    this.#options = options;
    this.#project = options.request.project;
  }

  /** Names the project (the git remote, found while the build runs); the record is written with the latest name. */
  setProject(project: string): void {
    if (project === this.#project) return;
    this.#project = project;
    // Named after the record was written (a build that failed at once): correct the row.
    if (this.#written && this.#buildId !== undefined) {
      try {
        this.#store?.setProject(this.#buildId, project);
      } catch {
        // The record keeps the context directory as its project.
      }
    }
  }

  /** Where each step is in the Dockerfile (from the plan). */
  locate(vertex: string, location: SourcePoint): void {
    this.#locations.set(vertex, location);
  }

  /** The layer a step made (executed or taken from the cache). */
  layer(vertex: string, layer: { readonly digest: string; readonly size: number }): void {
    this.#layers.set(vertex, { digest: layer.digest, size: layer.size });
  }

  /**
   * Every step of the plan, once it is made. A successful build records each planned step it did not
   * see run as cached: the solver does not visit the inputs of a cached step.
   */
  planned(steps: readonly PlannedStep[]): void {
    this.#planned = steps;
  }

  /** The attestations the build made (SBOM, provenance): their presence and the SBOM's completeness. */
  attestations(made: readonly MadeAttestation[]): void {
    const sbom = made.find((a) => a.kind === 'sbom');
    this.#attested = {
      sbom: sbom !== undefined,
      provenance: made.some((a) => a.kind === 'provenance'),
      sbomPackages: sbom === undefined ? undefined : sbomCompleteness(sbom.predicate),
    };
  }

  /** What the pipeline knows of the image (signature, scans); it overrides what the attestations said. */
  supplyChain(facts: SupplyChainInput): void {
    this.#supplyChain = facts;
  }

  emit(event: BuildEvent): void {
    const next = this.#options.next;
    if (event.type === 'build.started' && this.#buildId === undefined) {
      next.emit(event);
      this.#start(event.buildId, event.target, event.time);
      return;
    }
    if (this.#store !== undefined && !this.#done) {
      if (event.type === 'build.completed' || event.type === 'build.failed') this.#finish(event);
      else this.#observe(event);
    }
    next.emit(event);
  }

  #start(buildId: string, target: string, time: number): void {
    this.#buildId = buildId;
    this.#target = target;
    this.#startedAt = time;
    try {
      this.#store = this.#options.open();
    } catch (error) {
      this.#warn(`the build history cannot be used, this build is not recorded: ${message(error)}`);
    }
  }

  #step(vertex: string, time: number): StepState {
    let step = this.#steps.get(vertex);
    if (step === undefined) {
      step = { seq: this.#steps.size + 1, vertex, name: vertex, stage: undefined, status: 'running', startedAt: time, durationMs: undefined, missReasons: [], cacheKey: undefined, exitCode: undefined, error: undefined, log: [], compressed: undefined };
      this.#steps.set(vertex, step);
    }
    return step;
  }

  #observe(event: BuildEvent): void {
    switch (event.type) {
      case 'vertex.started':
      case 'vertex.cached': {
        const step = this.#step(event.vertex, event.time);
        step.name = event.name;
        step.stage = event.stage;
        step.startedAt = event.time;
        if (event.cacheKey !== undefined) step.cacheKey = event.cacheKey;
        if (event.type === 'vertex.cached') {
          step.status = 'cached';
          step.durationMs = 0;
        }
        return;
      }
      case 'vertex.log':
        this.#step(event.vertex, event.time).log.push(Buffer.from(event.data, 'utf8'));
        return;
      case 'vertex.completed': {
        const step = this.#step(event.vertex, event.time);
        step.status = 'done';
        step.durationMs = event.durationMs;
        compress(step);
        return;
      }
      case 'vertex.failed': {
        const step = this.#step(event.vertex, event.time);
        step.status = 'failed';
        step.durationMs = event.durationMs;
        step.error = event.error;
        const code = EXIT_CODE.exec(event.error)?.[1];
        step.exitCode = code === undefined ? undefined : Number(code);
        compress(step);
        return;
      }
      case 'vertex.canceled': {
        const step = this.#step(event.vertex, event.time);
        step.status = 'cancelled';
        step.durationMs = Math.max(0, event.time - step.startedAt);
        compress(step);
        return;
      }
      case 'cache.miss': {
        const step = this.#step(event.vertex, event.time);
        step.missReasons = [...event.reasons];
        step.cacheKey ??= event.key;
        return;
      }
      case 'build.warning':
        this.#warnings.push({
          seq: this.#warnings.length + 1,
          message: event.message,
          ...(event.rule === undefined ? {} : { rule: event.rule }),
          ...(event.location === undefined ? {} : { location: { file: event.location.file, line: event.location.line, ...(event.location.column === undefined ? {} : { column: event.location.column }) } }),
          ...(event.url === undefined ? {} : { url: event.url }),
          ...(event.detail === undefined ? {} : { detail: event.detail }),
        });
        return;
      case 'transfer.completed':
        this.#transfer(event);
        return;
      case 'build.started':
      case 'build.completed':
      case 'build.failed':
      case 'vertex.progress':
      case 'transfer.started':
      case 'transfer.progress':
      case 'registry.retry':
        return;
    }
  }

  /** Image blobs pulled (per repository: first start to last completion) and bytes pushed. */
  #transfer(event: Extract<BuildEvent, { type: 'transfer.completed' }>): void {
    if (event.direction === 'push') {
      this.#pushed = true;
      if (event.outcome === 'done') this.#pushBytes += event.bytes;
      return;
    }
    // Cache metadata (`blob`) and blobs already in the store are not image pulls.
    if (event.kind === 'blob' || event.outcome !== 'done') return;
    const start = event.time - event.durationMs;
    const pull = this.#pulls.get(event.ref);
    if (pull === undefined) {
      this.#pulls.set(event.ref, { ref: event.ref, startedAt: start, endedAt: event.time, bytes: event.bytes, blobs: 1 });
      return;
    }
    pull.startedAt = Math.min(pull.startedAt, start);
    pull.endedAt = Math.max(pull.endedAt, event.time);
    pull.bytes += event.bytes;
    pull.blobs += 1;
  }

  #supplyChainRecord(): SupplyChainRecord | undefined {
    const attested = this.#attested;
    const told = this.#supplyChain;
    if (attested === undefined && told === undefined) return undefined;
    return {
      sbom: told?.sbom ?? attested?.sbom ?? false,
      provenance: told?.provenance ?? attested?.provenance ?? false,
      signed: told?.signed ?? false,
      ...(attested?.sbomPackages === undefined ? {} : { sbomPackages: attested.sbomPackages }),
      ...(told?.vulns === undefined ? {} : { vulns: { hasData: told.vulns.hasData, counts: { ...told.vulns.counts } } }),
      ...(told?.secrets === undefined ? {} : { secrets: told.secrets }),
    };
  }

  #finish(event: Extract<BuildEvent, { type: 'build.completed' | 'build.failed' }>): void {
    this.#done = true;
    const store = this.#store;
    const id = this.#buildId;
    if (store === undefined || id === undefined) return;
    const begin = performance.now();
    try {
      const status: BuildStatus = event.type === 'build.completed' ? 'success' : event.code === 'ABORTED' ? 'cancelled' : 'failed';
      if (event.type === 'build.completed') {
        for (const planned of this.#planned) {
          if (this.#steps.has(planned.vertex)) continue;
          const step = this.#step(planned.vertex, this.#startedAt);
          step.name = planned.name;
          step.stage = planned.stage;
          step.status = 'cached';
          step.durationMs = 0;
        }
      }
      const steps: StepRecord[] = [...this.#steps.values()].map((s) => {
        const location = this.#locations.get(s.vertex);
        const layer = this.#layers.get(s.vertex);
        // A step still running when the build ended was stopped with it.
        const unfinished = s.status === 'running';
        return {
          seq: s.seq, vertex: s.vertex, name: s.name, status: unfinished ? 'cancelled' : s.status, startedAt: s.startedAt,
          missReasons: s.missReasons,
          ...(s.cacheKey === undefined ? {} : { cacheKey: s.cacheKey }),
          ...(s.stage === undefined ? {} : { stage: s.stage }),
          ...(unfinished ? { durationMs: Math.max(0, event.time - s.startedAt) } : s.durationMs === undefined ? {} : { durationMs: s.durationMs }),
          ...(s.exitCode === undefined ? {} : { exitCode: s.exitCode }),
          ...(s.error === undefined ? {} : { error: s.error }),
          ...(layer === undefined ? {} : { layer }),
          ...(location === undefined ? {} : { location }),
        };
      });
      const failedStep = steps.find((s) => s.status === 'failed');
      const executed = event.type === 'build.completed' ? event.executed : steps.filter((s) => s.status === 'done' || s.status === 'failed').length;
      const cached = steps.filter((s) => s.status === 'cached').length;
      const { request } = this.#options;
      const traceId = traceIdOf(this.#options.traceId);
      const errorVertex = event.type === 'build.failed' ? event.vertex ?? failedStep?.vertex : undefined;
      const errorLocation = event.type === 'build.failed' ? event.location ?? (errorVertex === undefined ? undefined : this.#locations.get(errorVertex)) : undefined;
      const build: BuildRecord = {
        id, project: this.#project, context: request.context, dockerfile: request.dockerfile, target: this.#target, platform: request.platform,
        startedAt: this.#startedAt, endedAt: event.time, status,
        ...(event.type === 'build.failed'
          ? { error: { message: event.error, ...(event.code === undefined ? {} : { code: event.code }), ...(errorLocation === undefined ? {} : { location: { file: errorLocation.file, line: errorLocation.line } }), ...(errorVertex === undefined ? {} : { vertex: errorVertex }) } }
          : {}),
        request: request.facts,
        ...(event.type === 'build.completed' && event.image !== undefined ? { image: { digest: event.image.digest, configDigest: event.image.configDigest, size: event.image.size } } : {}),
        steps: { total: steps.length, executed, cached },
        warnings: this.#warnings.length,
        ...(status === 'success' ? { supplyChain: this.#supplyChainRecord() } : {}),
        ...(this.#pushed ? { pushBytes: this.#pushBytes } : {}),
        ...(traceId === undefined ? {} : { traceId }),
      };
      const pulls: PullRecord[] = [...this.#pulls.values()].map((p, i) => ({ seq: i + 1, ref: p.ref, startedAt: p.startedAt, durationMs: Math.max(0, p.endedAt - p.startedAt), bytes: p.bytes, blobs: p.blobs }));
      const logs = new Map<number, CompressedLog>();
      for (const step of this.#steps.values()) {
        compress(step);
        if (step.compressed !== undefined) logs.set(step.seq, step.compressed);
      }
      store.save({ build, steps, warnings: this.#warnings, logs, pulls });
      this.#written = true;
    } catch (error) {
      this.#warn(`the build history could not record build ${id}: ${message(error)}`);
    } finally {
      this.writeMs = performance.now() - begin;
      phaseTook('history: record written', begin);
      // The output is written; free it.
      for (const step of this.#steps.values()) {
        step.log.length = 0;
        step.compressed = undefined;
      }
    }
  }

  #warn(text: string): void {
    this.#options.next.emit({ type: 'build.warning', time: Date.now(), message: text });
  }
}

/** The trace id, when there is a well-formed one (a tracer that fails to start gives none). */
function traceIdOf(source: (() => string | undefined) | undefined): string | undefined {
  const id = source?.();
  return id !== undefined && /^[0-9a-f]{32}$/.test(id) && !/^0+$/.test(id) ? id : undefined;
}

/** Deflates what a step wrote since the last call (appending to what was compressed before). */
function compress(step: StepState): void {
  if (step.log.length === 0) return;
  const chunks = step.compressed === undefined ? step.log : [decompressLog(step.compressed), ...step.log];
  step.compressed = compressLog(chunks);
  step.log.length = 0;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

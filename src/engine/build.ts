/**
 * `build`: resolve exporters → prepare → convert → check → solve → assemble → export. The composition
 * of the build modules; every piece is chosen here (DESIGN.md engine/), what leaves the build goes
 * through the exporters (exporter/).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildContext, CacheKeyLinks, CacheRecords, ClampedLayers, LazyLayers, STATE_ROOT_LOCK, StatCache, StoreLocks, StepHistory, describeOpChange, explainContentHit, explainMiss, importCaches, inlineCacheValue, type CacheExportSpec, type CacheLocation, type KeyLink, type LayerRecord, type StepLayer, isLazyLayer } from '../cache/index.js';
import type { Content } from '../content/index.js';
import type { SbomResult } from '../attest/index.js';
import { StagecraftError, formatPlatform, parseImageRef, phaseDone, parsePlatform, type Digest, type Platform, type SourceLocation } from '../core/index.js';
import type { Database } from '../db/index.js';
import { ShellLex, checkConfigOf, convertDockerfile, type BaseImageInfo, loadDockerfile, parseTriggerCommands, requiredMountsOfDockerfile, requiredMountsOfPlan, type ConvertResult, type NamedContextSpec } from '../dockerfile/index.js';
import type { BuildEvent, EventSink } from '../events/index.js';
import { DEFAULT_HOSTNAME, checkEmulation, createRuncExecutor } from '../executor/index.js';
import { DEFAULT_ATTESTATIONS, makeAttestations, pingDockerDaemon, type ScanRequest, type Scanners, type VulnData, resolveExporters, type AttestationProducers, type AttestationRequest, type BuiltImage, type ExportContext, type OutputSpec, type ResolvedExporters } from '../exporter/index.js';
import { DEFAULT_EXPORT_COMPRESSION, assembleImage, compressLayers, type ImageAnnotations } from '../image/index.js';
import { BaseImages, CacheMountPool, ExecFailure, HttpDownloads, LayerResultCache, LayerStore, SelectionReader, opFor, type FsResult } from '../ops/index.js';
import type { ExecSettings, Vertex } from '../plan/index.js';
import type { TimedSpan } from '../metrics/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { SecretReport, Severity, VulnReport } from '../scan/index.js';
import type { Policy, Verdict } from '../policy/index.js';
import { openSnapshotter, type Snapshotter } from '../snapshot/index.js';
import { VertexError, solve, type CacheKey, type ResultCache, type SolveNode } from '../solver/index.js';
import { Disposer } from '../util/disposer.js';
import { PROCESS_OWNER } from '../util/owner.js';
import { attestationProducers, layerTarget, sbomTargets, scannedStages } from './attest.js';
import { effectiveScans, runSupplyChain } from './supply-chain.js';
import { layerSources } from './layer-sources.js';
import { signBuiltImage } from './sign.js';
import type { SigningKey } from '../attest/index.js';
import { checkRequiredMounts } from './check.js';
import { checkDockerfile, readDockerignore, reportChecks } from './lint.js';
import { checkBuildEntitlements, checkPlanEntitlements, type Entitlement } from './entitlements.js';
import { prepareNamedContexts, type PreparedContexts } from './named-contexts.js';
import { noSpaceError } from './no-space.js';
import { runcStateParent, sweepAbandoned } from './upkeep.js';
import { failedStepKeeper } from './debug.js';
import { debugBusy, openDebugStore } from './debug-store.js';
import { buildPins, checkLockDockerfile, locateInput, type BuildPins } from './locked.js';
import { imageTimes, resolveEpoch, type BuildEpoch } from './epoch.js';
import { gitSource } from '../attest/index.js';


/** The build log kept for the secret scan, over all steps. */
const MAX_SCANNED_LOG_BYTES = 16 * 1024 * 1024;

export interface BuildOptions {
  readonly contextDir: string;
  readonly dockerfile: { readonly path: string; readonly text: string };
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly target?: string | undefined;
  readonly platform: Platform;
  /**
   * `--platform a,b,…` with more than one platform: each is built (`platform` aside) and one image
   * index lists their manifests (engine/multi-platform.ts). Absent or one platform: `platform` alone.
   */
  readonly platforms?: readonly Platform[] | undefined;
  readonly buildPlatform: Platform;
  /** Where binfmt_misc is mounted, for the emulation check of foreign RUN steps (default /proc/sys/fs/binfmt_misc). */
  readonly binfmtDir?: string | undefined;
  /**
   * The form of the image's layers and manifest when the exporters are another build's: one
   * platform of a multi-platform build stores its image as the whole build's outputs need it.
   */
  readonly layerForm?: Pick<ResolvedExporters, 'compression' | 'dockerMediaTypes'> | undefined;
  /** Secret id → value (read by the CLI from files or the environment). */
  readonly secrets: ReadonlyMap<string, Buffer>;
  /** ssh id → agent socket path. */
  readonly ssh: ReadonlyMap<string, string>;
  readonly tags: readonly string[];
  readonly outputs: readonly OutputSpec[];
  readonly push: boolean;
  readonly noCache: boolean;
  /** Caches to import before the build (`--cache-from`). */
  readonly cacheFrom?: readonly CacheLocation[] | undefined;
  /** Caches to export after it (`--cache-to`). */
  readonly cacheTo?: readonly CacheExportSpec[] | undefined;
  readonly noCacheFilter: readonly string[];
  readonly pull: boolean;
  readonly network: 'default' | 'none' | 'host';
  /** Entitlements granted (`--allow`): `network.host` for host networking, `security.insecure`. None by default. */
  readonly allow?: readonly Entitlement[] | undefined;
  readonly labels: ReadonlyMap<string, string>;
  /**
   * SOURCE_DATE_EPOCH given by the user (environment or build arg), in seconds: the build's epoch,
   * and, as in BuildKit, the time of the files COPY, ADD and WORKDIR make (part of their cache keys).
   */
  readonly sourceDateEpoch?: number | undefined;
  /**
   * Reproducible times (default true): without an explicit SOURCE_DATE_EPOCH the epoch is the context's
   * git commit time, else the newest base image's `created`, else 0 (engine/epoch.ts). False: wall-clock times.
   */
  readonly reproducible?: boolean | undefined;
  /** `--add-host`, `--shm-size`, `--ulimit`, resources: for every RUN step. */
  readonly exec?: ExecSettings | undefined;
  /** `--annotation`: added to the image's manifest (and its descriptor where the key asks). */
  readonly annotations?: ImageAnnotations | undefined;
  /** Named build contexts (`--build-context`) by key; a directory's path is absolute. */
  readonly namedContexts?: ReadonlyMap<string, NamedContextSpec> | undefined;
  readonly execConcurrency?: number | undefined;
  readonly events: EventSink;
  readonly signal?: AbortSignal | undefined;
  /** The Docker daemon's socket for `--load` / `type=docker` without dest (the CLI reads DOCKER_HOST). */
  readonly dockerSocket?: string | undefined;
  /** Writes a `-` output (tar to stdout). */
  readonly stdout?: NodeJS.WritableStream | undefined;
  /** Failed builds whose failed RUN step is kept for `stagecraft debug` (0 or absent: none). */
  readonly debugKeep?: number | undefined;
  /**
   * Attestations (`--sbom`, `--provenance`, `--attest`); undefined is buildx's default (provenance
   * mode=min for image outputs, no SBOM); `{}` makes none (the image is a bare manifest).
   */
  readonly attest?: AttestationRequest | undefined;
  /**
   * `--sign key=FILE[,legacy=true]`: the image (and its attestations) signed with this key, loaded and
   * unlocked before the build starts; the signatures are stored with the image's names and pushed with it.
   */
  readonly sign?: { readonly key: SigningKey; readonly legacy: boolean } | undefined;
  /** stagecraft's version, named as the tool in SBOM documents. */
  readonly toolVersion?: string | undefined;
  /** `--locked` (a lock: every input pinned) or verify's pinned base images. */
  readonly pins?: BuildPins | undefined;
  /** `--offline`: no registry or URL is contacted; what is not in the store or cache fails the build. */
  readonly offline?: boolean | undefined;
  /** `--scan secrets,vulns`: scans of the image before the policy gate (the policy adds the scans it needs). */
  readonly scan?: ScanRequest | undefined;
  /** Vulnerability data besides the state root's cache: `--vuln-db DIR` (OSV), the Debian mirror, offline. */
  readonly vulnData?: Omit<VulnData, 'stateRoot'> | undefined;
  /** `--policy FILE`, read and compiled before the build: a failing gate stops the build before any exporter runs. */
  readonly policy?: Policy | undefined;
}

export interface BuildResult {
  /** The image manifest. */
  readonly manifestDigest: Digest;
  /** Its descriptor (media type and size too). */
  readonly manifest?: { readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly annotations?: Readonly<Record<string, string>> | undefined } | undefined;
  /** A multi-platform build: each platform's image manifest, in the order built (`index` lists them). */
  readonly platforms?: readonly { readonly platform: string; readonly manifestDigest: Digest; readonly configDigest: Digest }[] | undefined;
  /** The image index holding the manifest and its attestations (what the names point to); undefined without attestations. */
  readonly index?: { readonly mediaType: string; readonly digest: Digest; readonly size: number } | undefined;
  readonly configDigest: Digest;
  /** Sum of the layer blob sizes, config and manifest. */
  readonly size: number;
  readonly names: readonly string[];
  readonly executed: number;
  readonly cached: number;
  readonly durationMs: number;
  readonly warnings: readonly string[];
  readonly exported: readonly string[];
  /** The build's SOURCE_DATE_EPOCH and where it came from; undefined for a wall-clock build (`--reproducible=false`). */
  readonly epoch?: BuildEpoch | undefined;
  /** Scan summaries and the policy verdict, as printed (empty without scans or policy). */
  readonly supplyChain?: { readonly summary: readonly string[]; readonly secrets?: SecretReport | undefined; readonly vulns?: VulnReport | undefined; readonly verdict?: Verdict | undefined; readonly signed: boolean } | undefined;
}

export interface BuildDeps {
  readonly stateRoot: string;
  readonly content: () => Promise<Content>;
  readonly database: () => Database;
  readonly registry: RegistryClient;
  readonly push: (localRef: string, remoteRef: string | undefined, signal: AbortSignal | undefined) => Promise<unknown>;
  /** Told what the events do not say (the build history listens here). */
  readonly observer?: BuildObserver | undefined;
  /** The secret and vulnerability scanners (scan/); needed only when a build scans. */
  readonly scanners?: Scanners | undefined;
}

/** Facts of a build's steps beyond its events. Must not throw. */
export interface BuildObserver {
  /** Where a step is in the Dockerfile, once the plan is made. */
  locate(vertex: string, location: { readonly file: string; readonly line: number }): void;
  /** The layer a RUN, COPY or ADD step made, executed or taken from the cache. */
  layer(vertex: string, layer: { readonly digest: Digest; readonly size: number }): void;
  /** What left the build with the image (attestations, signatures, scan results), once it is known. */
  supplyChain?(facts: SupplyChainFacts): void;
  /** Every step of the plan, once it is made (a cached step's inputs are not solved, so no event names them). */
  planned?(steps: readonly { readonly vertex: string; readonly name: string; readonly stage?: string | undefined }[]): void;
  /** The attestations made for the image (empty when none was asked for). */
  attestations?(made: readonly { readonly kind: 'sbom' | 'provenance' | 'vuln'; readonly predicate: unknown }[]): void;
  /** A phase no event marks (resolving a base image, an attestation, an exporter), once it ended (traces). */
  span?(span: ObservedSpan): void;
}

/** A timed phase of a build (BuildKit's span names: `resolving <ref>`, `create sbom attestation`, `exporting to image`). */
export type ObservedSpan = TimedSpan;

/** Runs `work`, telling `observer` how long it took (and whether it failed) as the span `name`. */
async function timed<T>(observer: BuildObserver | undefined, name: string, work: () => Promise<T>, attributes?: Readonly<Record<string, string | number | boolean>>): Promise<T> {
  const tell = observer?.span?.bind(observer);
  if (tell === undefined) return work();
  const startedAt = Date.now();
  try {
    const result = await work();
    tell({ name, startedAt, endedAt: Date.now(), attributes });
    return result;
  } catch (error) {
    tell({ name, startedAt, endedAt: Date.now(), attributes, error: error instanceof Error ? error.message : String(error) });
    throw error;
  }
}

/** The supply-chain facts of a finished image (the history records them; the SLIs count them). */
export interface SupplyChainFacts {
  readonly sbom: boolean;
  readonly provenance: boolean;
  readonly signed: boolean;
  /** Vulnerability counts by severity when the image was scanned for them (undefined: not scanned). */
  readonly vulns?: { readonly hasData: boolean; readonly counts: Readonly<Record<Severity, number>> } | undefined;
  /** Secret findings when the image was scanned for them (undefined: not scanned). */
  readonly secrets?: number | undefined;
}

export async function build(deps: BuildDeps, options: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  // Every output, name and cache export is checked before any work starts.
  const resolved = resolveExporters({ outputs: options.outputs, tags: options.tags, push: options.push, cacheTo: options.cacheTo });
  const exports = options.layerForm === undefined ? resolved : { ...resolved, compression: options.layerForm.compression, dockerMediaTypes: options.layerForm.dockerMediaTypes };
  const buildId = randomBytes(8).toString('hex');
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  const disposer = new Disposer();
  // The last lines of each step's output, for the error message of a failing step.
  const tails = new Map<string, string>();
  let failedVertex: string | undefined;
  const scans = effectiveScans(options.scan, options.policy);
  // The steps' output, for the secret scan (capped: a log past the cap is scanned up to it).
  const logs = new Map<string, string>();
  let logBytes = 0;
  const events: EventSink = {
    emit: (event) => {
      if (event.type === 'vertex.log') tails.set(event.vertex, ((tails.get(event.vertex) ?? '') + event.data).slice(-4096));
      if (scans.secrets && event.type === 'vertex.log' && logBytes < MAX_SCANNED_LOG_BYTES) {
        logs.set(event.vertex, (logs.get(event.vertex) ?? '') + event.data);
        logBytes += event.data.length;
      }
      if (event.type === 'vertex.failed') failedVertex ??= event.vertex;
      options.events.emit(event);
    },
  };
  // Named by its owner, so a killed build's run dir is swept by the next build (sweepAbandoned).
  const runDir = join(deps.stateRoot, 'run', `${PROCESS_OWNER}-${buildId}`);
  events.emit({ type: 'build.started', time: Date.now(), buildId, target: options.target ?? '', vertices: 0 });
  try {
    checkBuildEntitlements(options.network, options.allow ?? []);
    const parsed = loadDockerfile(options.dockerfile.text, options.dockerfile.path);
    // A malformed `# check=` (or BUILDKIT_DOCKERFILE_CHECK) fails now, not after the base images are resolved.
    checkConfigOf(options.dockerfile.text, options.dockerfile.path, options.buildArgs.get('BUILDKIT_DOCKERFILE_CHECK'));
    // check, from the Dockerfile alone: before a registry is contacted or anything is unpacked.
    const lex = new ShellLex({ escapeToken: parsed.escapeToken });
    const graphOptions = { lex, buildArgs: options.buildArgs, target: options.target, buildPlatform: options.buildPlatform, targetPlatform: options.platform };
    checkRequiredMounts(requiredMountsOfDockerfile(parsed, graphOptions), options.secrets, options.ssh);
    // `--load`: a missing Docker daemon fails now, not after the build.
    if (exports.daemon) await pingDockerDaemon({ socketPath: options.dockerSocket, signal });

    phaseDone('build: Dockerfile parsed and checked');
    const env = await prepare(deps, options, { runDir, disposer, events, signal });
    phaseDone('build: prepared (lock, cache import, snapshotter, sweep, context)');
    const converted = await convertDockerfile(parsed, {
      ...graphOptions,
      resolveImage: async (ref, platform) => {
        const base = await timed(deps.observer, `resolving ${ref}`, () => env.baseImages.resolve(ref, platform, signal), { platform: formatPlatform(platform) }).catch((error: unknown) => {
          // An image missing offline names the line that asked for it (a lock's errors name it already).
          const at = error instanceof StagecraftError && error.code === 'OFFLINE_MISSING' && error.location === undefined ? locateInput(options.dockerfile, ref) : undefined;
          throw at === undefined || !(error instanceof StagecraftError) ? error : new StagecraftError(error.code, `${at.file}:${at.range.start.line}: ${error.message}`, { hint: error.hint, location: at });
        });
        return { ref: base.pinned, image: base.config };
      },
      parseTriggers: (text) => parseTriggerCommands(text, 'ONBUILD trigger'),
      noCache: options.noCache,
      noCacheFilter: new Set(options.noCacheFilter.map((s) => s.toLowerCase())),
      sourceDateEpoch: options.sourceDateEpoch,
      exec: options.exec,
      namedContexts: env.named.convert,
    });
    phaseDone('build: converted to a plan (base images resolved)');
    // Every input was found in the lock (or the error named its line): now the Dockerfile itself.
    checkLockDockerfile(options.pins, options.dockerfile, converted.plan.vertices);
    for (const warning of converted.warnings) events.emit({ type: 'build.warning', time: Date.now(), message: warning });
    for (const vertex of converted.plan.vertices) {
      const location = vertex.meta.location;
      if (location !== undefined) deps.observer?.locate(vertex.id, { file: location.file, line: location.range.start.line });
    }
    deps.observer?.planned?.(converted.plan.vertices.map((v) => ({ vertex: v.id, name: v.meta.name, stage: v.meta.stage })));
    // Build checks, with the base images now resolved (as BuildKit, which lints while it dispatches);
    // `error=true` fails here, before any step runs.
    reportChecks(await checkDockerfile({
      contextDir: options.contextDir, dockerfile: options.dockerfile, buildArgs: options.buildArgs, target: options.target,
      buildPlatform: options.buildPlatform, platform: options.platform, baseImages: await resolvedBaseImages(env, converted, options.platform, signal),
    }), events);
    // check, from the plan: ids made of variables, ONBUILD triggers; entitlements.
    checkPlanEntitlements(converted.plan.vertices, options.allow ?? []);
    checkRequiredMounts(requiredMountsOfPlan(converted.plan), options.secrets, options.ssh);
    // RUN steps of another architecture need QEMU through binfmt_misc: a missing handler fails now.
    await checkEmulation(runPlatforms(converted, options.platform), { host: options.buildPlatform, binfmtDir: options.binfmtDir });

    phaseDone('build: build checks');
    const request = options.attest ?? DEFAULT_ATTESTATIONS;
    // Stages scanned for the SBOM are solved as roots too (a cached target does not solve its inputs).
    const extraRoots = scannedStages(request, converted).map((stage) => stage.root);
    const solved = await solveTarget(deps, options, env, converted, { buildId, runDir, disposer, events, tails, signal }, extraRoots, request.provenance?.mode === 'max');
    phaseDone('build: solved');
    const baseImages = await env.baseImages.loaded();
    const epoch = await resolveEpoch({
      explicit: options.sourceDateEpoch,
      reproducible: options.reproducible ?? true,
      gitCommitTime: async () => (await gitSource(options.contextDir))?.commitTime,
      baseCreated: baseImages.map((base) => base.config.created),
    });
    // A signed image is stored with compressed layers: the digest signed is the digest a later push sends.
    const layerExports = options.sign !== undefined && exports.compression === undefined ? { ...exports, compression: DEFAULT_EXPORT_COMPRESSION } : exports;
    const image = await assembleAndStore(env, options, converted.target.image, solved, layerExports, { epoch: epoch?.seconds, baseDiffIds: new Set(baseImages.flatMap((base) => base.layers.map((l) => l.diffId))) }, signal);
    phaseDone('build: epoch, image assembled and stored');
    const warn = (message: string): void => events.emit({ type: 'build.warning', time: Date.now(), message });
    const platform = formatPlatform(options.platform);
    let catalog: SbomResult | undefined;
    const attestOptions = {
      request,
      producers: observedProducers(attestationProducers({
        buildId, started, options, converted, epoch, content: env.content, names: exports.names, baseImages: env.baseImages, downloads: solved.downloads,
        // The layer map names the layers as they are in the image.
        vertexLayers: new Map([...solved.vertexLayers].map(([id, layers]) => [id, layers.map((layer) => image.inImage.get(layer.digest) ?? layer)])),
        onCatalog: (target: string, result: SbomResult) => {
          if (target === 'sbom') catalog = result;
        },
      }), deps.observer),
      sbomTargets: sbomTargets(request, {
        converted,
        stageLayers: (root) => solved.stageLayers.get(root),
        layers: env.layers,
        snapshotter: env.snapshotter,
        asInImage: (diffId) => image.inImageDiffIds.get(diffId) ?? diffId,
        contextView: async () => {
          const view = await env.context.view(['.'], []);
          return { path: view.path, [Symbol.asyncDispose]: () => view[Symbol.asyncDispose]() };
        },
      }, solved.layers),
      image: image.descriptor,
      platform,
      names: exports.names,
      docker: exports.dockerMediaTypes,
      content: env.content,
      warn,
      signal,
    };
    const attestations = await makeAttestations(attestOptions);
    const sign = options.sign;
    const vertexNames = new Map<string, string>(converted.plan.vertices.map((v) => [v.id, v.meta.name]));
    // scan → policy gate → attestation index → sign: a failing gate throws here, before any exporter.
    const chain = await runSupplyChain({
      request: scans,
      policy: options.policy,
      // sign: after the gate and the attestation index, before the exporters (so the names and --push carry the signatures).
      sign: sign === undefined ? undefined : (index) => signBuiltImage(env.content, { image: image.descriptor, index, names: exports.names, key: sign.key, legacy: sign.legacy, signal }),
      scanners: deps.scanners,
      vulnData: { ...options.vulnData, stateRoot: deps.stateRoot },
      content: env.content,
      image: image.descriptor,
      size: image.size,
      platform,
      names: exports.names,
      docker: exports.dockerMediaTypes,
      attestations,
      catalog,
      finalTarget: layerTarget('sbom', solved.layers, { layers: env.layers, snapshotter: env.snapshotter, asInImage: (diffId) => image.inImageDiffIds.get(diffId) ?? diffId }),
      sources: layerSources(solved.layers, solved.vertexLayers, new Map(converted.plan.vertices.map((v) => [v.id, v]))),
      logs: [...logs].map(([vertex, text]) => ({ name: vertexNames.get(vertex) ?? vertex, text })),
      baseImages: env.baseImages,
      layers: env.layers,
      observe: deps.observer?.supplyChain === undefined ? undefined : (facts) => deps.observer?.supplyChain?.(facts),
      warn,
      signal,
    });
    phaseDone('build: attestations, supply chain');
    const attested = chain.attested;
    deps.observer?.attestations?.(attested.attestations.map((a) => ({ kind: a.kind, predicate: a.predicate })));
    const built: BuiltImage = {
      descriptor: image.descriptor,
      platform,
      names: exports.names,
      rootfs: (rootfsSignal) => env.layers.view(solved.layers, rootfsSignal),
      cacheKeys: { target: solved.keys.get(converted.target.root)?.key, all: [...solved.keys.values()].map((k) => k.key), links: keyLinks(solved.keys) },
      inlineCacheRecords: image.inlineCacheRecords,
      index: attested.index,
      attestations: attested.attestations,
    };
    const context: ExportContext = {
      content: env.content,
      registry: deps.registry,
      records: env.records,
      resolveLayers: (layers, resolveSignal) => env.layers.resolve(layers, resolveSignal),
      push: (name, pushSignal) => deps.push(name, undefined, pushSignal),
      stdout: options.stdout,
      dockerSocket: options.dockerSocket,
      sourceDateEpoch: epoch?.seconds,
      warn,
      signal,
    };
    const exported: string[] = [];
    for (const exporter of exports.exporters) exported.push(...(await timed(deps.observer, exporter.name ?? 'export', () => exporter.export(built, context))));
    phaseDone('build: exported');

    const durationMs = Date.now() - started;
    events.emit({ type: 'build.completed', time: Date.now(), durationMs, executed: solved.executed, cached: solved.cached, image: { digest: image.descriptor.digest, configDigest: image.configDigest, size: image.size }, ...(epoch === undefined ? {} : { epoch }) });
    return { manifestDigest: image.descriptor.digest, manifest: image.descriptor, ...(attested.index === undefined ? {} : { index: attested.index }), configDigest: image.configDigest, size: image.size, names: exports.names, executed: solved.executed, cached: solved.cached, durationMs, warnings: converted.warnings, exported, ...(epoch === undefined ? {} : { epoch }), ...(chain.summary.length > 0 || chain.signed ? { supplyChain: { summary: chain.summary, secrets: chain.secrets, vulns: chain.vulns, verdict: chain.verdict, signed: chain.signed } } : {}) };
  } catch (caught) {
    const error = await noSpaceError(caught, deps.stateRoot);
    events.emit(buildFailedEvent(error, started, options.signal, failedVertex));
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await disposer.dispose();
  }
}

/** The `build.failed` event of `error` (its code, Dockerfile location and failing step). */
export function buildFailedEvent(error: unknown, started: number, signal: AbortSignal | undefined, vertex?: string): Extract<BuildEvent, { type: 'build.failed' }> {
  const location = error instanceof StagecraftError ? error.location : undefined;
  return {
    type: 'build.failed',
    time: Date.now(),
    durationMs: Date.now() - started,
    error: error instanceof Error ? error.message : String(error),
    // An abort with a reason of the caller's own is still a cancelled build.
    ...(error instanceof StagecraftError ? { code: error.code } : signal?.aborted === true ? { code: 'ABORTED' } : {}),
    ...(location === undefined ? {} : { location: { file: location.file, line: location.range.start.line } }),
    ...(vertex === undefined ? {} : { vertex }),
  };
}

/** The platforms the plan's RUN steps run as (each needed stage's `FROM --platform`, else the target's). */
function runPlatforms(converted: ConvertResult, target: Platform): Platform[] {
  const running = new Set(converted.plan.vertices.filter((v) => v.op.type === 'exec').map((v) => v.meta.stage));
  const out: Platform[] = [];
  for (const index of converted.graph.needed) {
    const stage = converted.graph.stages[index];
    if (stage === undefined || !running.has(stage.displayName)) continue;
    out.push(stage.platform === undefined ? target : parsePlatform(stage.platform));
  }
  return out;
}

/** The config of each needed stage's base image (already resolved by convert: no new registry request). */
async function resolvedBaseImages(env: BuildEnvironment, converted: ConvertResult, platform: Platform, signal: AbortSignal): Promise<Map<number, BaseImageInfo>> {
  const images = new Map<number, BaseImageInfo>();
  for (const index of converted.graph.needed) {
    const stage = converted.graph.stages[index];
    if (stage?.base.kind !== 'image') continue;
    let stagePlatform = platform;
    try {
      if (stage.platform !== undefined) stagePlatform = parsePlatform(stage.platform);
    } catch {
      continue;
    }
    const base = await env.baseImages.resolve(stage.base.ref, stagePlatform, signal);
    images.set(index, {
      env: base.config.config?.Env ?? [], user: base.config.config?.User, shell: base.config.config?.Shell,
      os: base.config.os, architecture: base.config.architecture, variant: base.config.variant,
    });
  }
  return images;
}

/** What the build works with: the stores, the snapshotter and layers, base images, the context. */
interface BuildEnvironment {
  readonly content: Content;
  readonly db: Database;
  readonly locks: StoreLocks;
  readonly records: CacheRecords;
  readonly snapshotter: Snapshotter;
  readonly layers: LayerStore;
  readonly baseImages: BaseImages;
  readonly context: BuildContext;
  /** `--build-context`s: what convert sees, and the directory contexts by plan name. */
  readonly named: PreparedContexts;
}

/** prepare: opens the stores (holding the state root shared), imports `--cache-from`, sweeps leftovers, readies the contexts. */
async function prepare(deps: BuildDeps, options: BuildOptions, scope: Pick<SolveScope, 'runDir' | 'disposer' | 'events' | 'signal'>): Promise<BuildEnvironment> {
  const { runDir, disposer, events, signal } = scope;
  const content = await deps.content();
  const db = deps.database();
  // Every build holds the state root shared; `prune --all` takes it exclusive, so it never removes
  // snapshots or cache mounts a running build uses.
  const locks = new StoreLocks(db);
  disposer.use(await locks.acquire(STATE_ROOT_LOCK, 'shared', signal));
  const records = new CacheRecords(db);
  // An unusable --cache-from is a warning, as in buildx.
  await importCaches({ content, registry: deps.registry, records, links: new CacheKeyLinks(db) }, options.cacheFrom ?? [], (message) => events.emit({ type: 'build.warning', time: Date.now(), message }), signal);
  const snapshotter: Snapshotter = await openSnapshotter(join(deps.stateRoot, 'snapshots'), { warn: (message) => events.emit({ type: 'build.warning', time: Date.now(), message }) });
  await sweepAbandoned(deps.stateRoot, snapshotter);
  disposer.defer(() => rm(runDir, { recursive: true, force: true }));
  const layers = new LayerStore({
    snapshotter,
    blobs: content.blobs,
    clamped: new ClampedLayers(db),
    lazy: new LazyLayers(db),
    runDir: join(runDir, 'mnt'),
    fetchBlob: async (layer, fetchSignal) => {
      if (options.offline === true) {
        throw new StagecraftError('OFFLINE_MISSING', `layer ${layer.digest}${layer.source === undefined ? '' : ` of ${layer.source}`} is not in the local store, and --offline does not contact its registry`, { hint: 'build once online on this state root, then build --offline' });
      }
      if (layer.source === undefined) throw new StagecraftError('STORE_CORRUPT', `layer ${layer.digest} is missing from the store and has no source to fetch it from`, { hint: 'run the build with --no-cache' });
      const ref = parseImageRef(layer.source);
      await content.blobs.ingest(await deps.registry.fetchBlob(ref, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, { signal: fetchSignal }), { digest: layer.digest, size: layer.size, signal: fetchSignal });
    },
  });
  const statCache = new StatCache(db);
  const context = new BuildContext({
    dir: options.contextDir,
    ignore: await readDockerignore(options.contextDir, options.dockerfile.path),
    statCache,
    viewRoot: join(runDir, 'context'),
  });
  const named = await prepareNamedContexts(options.namedContexts ?? new Map(), { content, statCache, viewRoot: join(runDir, 'context'), platform: options.platform, disposer, signal });
  return { content, db, locks, records, snapshotter, layers, baseImages: new BaseImages({ content, registry: deps.registry, pull: options.pull, pins: buildPins(options.pins, options.dockerfile).images, offline: options.offline }), context, named };
}

interface SolveScope {
  readonly buildId: string;
  readonly runDir: string;
  readonly disposer: Disposer;
  readonly events: EventSink;
  readonly tails: ReadonlyMap<string, string>;
  readonly signal: AbortSignal;
}

interface SolvedTarget {
  /** The target's filesystem as layers (plain tar blobs; base-image layers possibly only in their registry). */
  readonly layers: readonly LayerRecord[];
  /** The layers of every solved vertex with a filesystem (stage roots for scan-stage SBOMs). */
  readonly stageLayers: ReadonlyMap<string, readonly LayerRecord[]>;
  /** The layers of every vertex the solve produced (a cached target's inputs are not solved): provenance's layer map. */
  readonly vertexLayers: ReadonlyMap<string, readonly LayerRecord[]>;
  readonly keys: ReadonlyMap<string, CacheKey>;
  readonly executed: number;
  readonly cached: number;
  /** The build's ADD <url> downloads (what each URL's content was, for provenance). */
  readonly downloads: HttpDownloads;
}

/** solve: runs the plan (runc, overlay snapshots, the cache); a failing step is named at its Dockerfile line. */
async function solveTarget(deps: BuildDeps, options: BuildOptions, env: BuildEnvironment, converted: ConvertResult, scope: SolveScope, extraRoots: readonly string[] = [], allLayers = false): Promise<SolvedTarget> {
  const { disposer, events, signal } = scope;
  // runc state on a tmpfs, one directory per build named by its owner, so a killed build's
  // containers and state can be swept by the next one (sweepAbandoned).
  const stateDir = join(runcStateParent(deps.stateRoot), `${PROCESS_OWNER}-${scope.buildId}`);
  disposer.defer(() => rm(stateDir, { recursive: true, force: true }));
  const executor = createRuncExecutor({ stateDir, runDir: join(scope.runDir, 'runc') });
  const vertices = new Map<string, Vertex>(converted.plan.vertices.map((v) => [v.id, v]));
  const warn = (message: string): void => events.emit({ type: 'build.warning', time: Date.now(), message });
  const debugKeep = options.debugKeep ?? 0;
  let failedSteps;
  if (debugKeep > 0) {
    const store = openDebugStore(deps.stateRoot, env.snapshotter, warn);
    await store.cleanup();
    failedSteps = failedStepKeeper({ store, snapshotter: env.snapshotter, buildId: scope.buildId, limit: debugKeep, busy: debugBusy(env.locks), warn });
  }
  const nodes = new Map<string, SolveNode>(converted.plan.vertices.map((v) => [v.id, { id: v.id, inputs: v.inputs, name: v.meta.name, stage: v.meta.stage, ignoreCache: v.meta.ignoreCache }]));
  // The main context, or a `--build-context` directory by its plan name.
  const contextFor = (name: string): BuildContext => env.named.dirs.get(name) ?? env.context;
  const downloads = disposer.use(new HttpDownloads({ root: join(scope.runDir, 'http'), content: env.content, allowHostLocal: (options.allow ?? []).includes('network.host'), events, pins: buildPins(options.pins, options.dockerfile).urls, offline: options.offline }));
  const opDeps = {
    executor,
    snapshotter: env.snapshotter,
    layers: env.layers,
    secrets: { get: (id: string) => Promise.resolve(options.secrets.get(id)) },
    ssh: options.ssh,
    cacheMounts: new CacheMountPool(join(deps.stateRoot, 'cache-mounts'), env.locks),
    hostname: DEFAULT_HOSTNAME,
    defaultNetwork: options.network,
    failedSteps,
    baseImages: env.baseImages,
    downloads,
    selections: new SelectionReader(env.layers),
    context: {
      hash: (name: string, include: readonly string[], hashSignal: AbortSignal) => contextFor(name).hash(include, [], hashSignal),
      view: async (name: string, include: readonly string[]) => {
        const view = disposer.use(await contextFor(name).view(include, []));
        return { path: view.path, check: view.check };
      },
    },
  };
  // Steps are identified across builds by where they are in the Dockerfile; sources by definition.
  const stepId = (id: string): string => {
    const vertex = vertices.get(id);
    const location = vertex?.meta.location;
    if (vertex === undefined || location === undefined) return id;
    return `${location.file}:${location.range.start.line}:${vertex.meta.stage ?? ''}:${vertex.op.type}`;
  };
  const history = new StepHistory(env.db);
  /** An input a step selects files from, as a sentence names it: `stage build`, `image alpine:3.20`. */
  const selectionSource = (id: string): string => {
    const vertex = vertices.get(id);
    if (vertex?.op.type === 'image') return `image ${vertex.op.ref}`;
    return vertex?.meta.stage !== undefined ? `stage ${vertex.meta.stage}` : vertex?.meta.name ?? id;
  };
  const ownOp = (preimage: unknown): unknown => (typeof preimage === 'object' && preimage !== null && 'op' in preimage ? preimage.op : undefined);
  let result;
  try {
    result = await solve<FsResult>({
      nodes,
      roots: [...new Set([converted.target.root, ...extraRoots])],
      opFor: (node) => {
        const vertex = vertices.get(node.id);
        if (vertex === undefined) throw new Error(`no vertex ${node.id}`);
        return opFor(vertex, opDeps, vertex.inputs.map((input) => vertices.get(input)?.op));
      },
      cache: observedCache(new LayerResultCache(env.records, env.content.blobs, env.layers, new CacheKeyLinks(env.db)), vertices, deps.observer),
      // Directory results (context, downloads) are never stored, so they always "miss": not worth a word.
      explainMiss: (node, key, inputs) => (vertices.get(node.id)?.op.type === 'context' || vertices.get(node.id)?.op.type === 'http') ? [] : explainMiss(key.preimage, history.previous(stepId(node.id)), inputs.map((input) => {
        const vertex = vertices.get(input.node.id);
        const previous = history.previous(stepId(input.node.id));
        const source = vertex?.op.type === 'context' || vertex?.op.type === 'image';
        return {
          name: input.node.name,
          key: input.key.key,
          ownChange: source && previous !== undefined && previous.key !== input.key.key ? describeOpChange(ownOp(input.key.preimage), ownOp(previous.preimage)) : undefined,
          source: selectionSource(input.node.id),
        };
      })),
      explainHit: (node, key, inputs) => explainContentHit([...(key.selected ?? [])].map(([index, digest]) => ({ source: selectionSource(inputs[index]?.id ?? ''), digest }))),
      events,
      signal,
      // RUN steps mostly wait (I/O, sleeps, network): more slots than cores, as BuildKit runs them unbounded.
      execConcurrency: options.execConcurrency ?? Math.max(4, availableParallelism()),
    });
  } catch (error) {
    const mapped = failure(error, vertices, scope.tails);
    if (!(error instanceof VertexError)) throw mapped;
    // A step that filled the disk: NO_SPACE at its Dockerfile line.
    const full = await noSpaceError(mapped, deps.stateRoot, error.node.name);
    const location = vertices.get(error.node.id)?.meta.location;
    throw full !== mapped && full instanceof StagecraftError && location !== undefined ? full.withLocation(location) : full;
  }
  for (const [id, key] of result.keys) history.record(stepId(id), key.key, key.preimage);
  const root = result.results.get(converted.target.root);
  if (root === undefined || root.kind !== 'layers') throw new Error('build: the target produced no filesystem');
  // Lazy layers are made here, for what needs them: the target's (the image), the scanned stages'
  // (their SBOM), every step's for max provenance's layer map. Steps that only fed later steps are
  // never tarred; their results stay out of the layer maps (they are in no image).
  const made = new Map<string, LayerRecord>();
  // An image with an epoch holds every layer the build made clamped to it (assembleAndStore), never
  // plain: the plain layers are only hashed (their diffIDs key the records, maps and views), their
  // blobs made when something needs them (a cache export).
  const blobs = options.sourceDateEpoch === undefined && options.reproducible === false;
  const resolve = async (layers: readonly StepLayer[]): Promise<LayerRecord[]> => {
    const out = await env.layers.resolve(layers, signal, { blobs });
    for (const [i, layer] of layers.entries()) if (isLazyLayer(layer) && out[i] !== undefined) made.set(layer.snapshot, out[i]);
    return out;
  };
  const rootLayers = await resolve(root.layers);
  const stageLayers = new Map<string, readonly LayerRecord[]>();
  for (const stageRoot of extraRoots) {
    const solvedStage = result.results.get(stageRoot);
    if (solvedStage?.kind === 'layers') stageLayers.set(stageRoot, await resolve(solvedStage.layers));
  }
  const vertexLayers = new Map<string, readonly LayerRecord[]>();
  for (const [id, solvedVertex] of result.results) {
    if (solvedVertex.kind !== 'layers') continue;
    const layers = allLayers ? await resolve(solvedVertex.layers) : solvedVertex.layers.map((layer) => (isLazyLayer(layer) ? made.get(layer.snapshot) : layer));
    if (layers.every((layer) => layer !== undefined)) vertexLayers.set(id, layers);
  }
  for (const [id, layers] of vertexLayers) observedLayer(deps.observer, vertices.get(id), layers);
  return { layers: rootLayers, stageLayers, vertexLayers, keys: result.keys, executed: result.executed, cached: result.cached, downloads };
}

interface StoredImage {
  readonly descriptor: { readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly annotations?: Readonly<Record<string, string>> };
  readonly configDigest: Digest;
  /** Sum of the layer blob sizes, config and manifest. */
  readonly size: number;
  /** Records of `--cache-to type=inline` written into the config (0 without). */
  readonly inlineCacheRecords: number;
  /** A layer as a step made it → as it is in the image (times clamped to the epoch). */
  readonly inImage: ReadonlyMap<Digest, LayerRecord>;
  /** The same by diffID. */
  readonly inImageDiffIds: ReadonlyMap<Digest, Digest>;
}

/** assemble: config and manifest over the target's layers (compressed once if the image leaves the machine), into the store. */
async function assembleAndStore(env: BuildEnvironment, options: BuildOptions, image: ConvertResult['target']['image'], solved: SolvedTarget, exports: ResolvedExporters, times: AssembleTimes, signal: AbortSignal): Promise<StoredImage> {
  // The image in the store needs its blobs: base-image layers may still be only in the registry, a
  // layer made by the build only hashed (solveTarget). Clamped layers are made from their snapshots.
  const ensure = (layers: readonly LayerRecord[]): Promise<void[]> => Promise.all(layers.map((layer) => env.layers.ensureBlob(layer, signal)));
  let plain: readonly LayerRecord[];
  if (times.epoch === undefined) {
    await ensure(solved.layers);
    plain = solved.layers;
  } else {
    plain = await clampLayers(env.layers, solved.layers, times.baseDiffIds, times.epoch, ensure, signal);
  }
  const layers = exports.compression === undefined ? plain : await compressLayers(env.content.blobs, plain, exports.compression, signal);
  const labels = { ...(image.config.Labels ?? {}), ...Object.fromEntries(options.labels) };
  const stamped = imageTimes(image.history, plain, times.epoch, Date.now);
  const created = stamped.created;
  // The cache records hold the layers as the steps made them; the image has them clamped.
  const asInImage = new Map(solved.layers.map((layer, i) => [layer.diffId, plain[i]?.diffId ?? layer.diffId]));
  const inline = exports.inlineCache ? inlineCacheValue(env.records, [...solved.keys.values()].map((k) => k.key), layers, created, (diffId) => asInImage.get(diffId) ?? diffId, (stack) => env.layers.known(stack), keyLinks(solved.keys)) : undefined;
  const assembled = assembleImage({
    architecture: image.architecture,
    os: image.os,
    variant: image.variant,
    author: image.author,
    config: { ...image.config, ...(Object.keys(labels).length > 0 ? { Labels: labels } : {}) },
    history: stamped.history,
    layers,
    created,
    docker: exports.dockerMediaTypes,
    annotations: options.annotations?.manifest,
    inlineCache: inline?.value,
  });
  await env.content.blobs.put(assembled.config, { digest: assembled.configDigest, signal });
  await env.content.blobs.put(assembled.manifest, { digest: assembled.manifestDigest, signal });
  const descriptorAnnotations = options.annotations?.manifestDescriptor ?? {};
  return {
    descriptor: { mediaType: assembled.manifestMediaType, digest: assembled.manifestDigest, size: assembled.manifest.length, ...(Object.keys(descriptorAnnotations).length > 0 ? { annotations: { ...descriptorAnnotations } } : {}) },
    configDigest: assembled.configDigest,
    size: layers.reduce((sum, l) => sum + l.size, 0) + assembled.config.length + assembled.manifest.length,
    inlineCacheRecords: inline?.count ?? 0,
    inImage: new Map(solved.layers.map((layer, i) => [layer.digest, plain[i] ?? layer])),
    inImageDiffIds: asInImage,
  };
}

interface AssembleTimes {
  /** The build's epoch (seconds); undefined for wall-clock times. */
  readonly epoch: number | undefined;
  /** The diffIDs of the base images' layers: never rewritten. */
  readonly baseDiffIds: ReadonlySet<Digest>;
}

/**
 * The target's layers with times later than the epoch clamped (BuildKit's rewrite-timestamp): the
 * leading layers that are a base image's stay as they are (moby/moby#43124), every layer after the
 * first one the build made is clamped.
 */
async function clampLayers(store: LayerStore, layers: readonly LayerRecord[], baseDiffIds: ReadonlySet<Digest>, epoch: number, ensure: (layers: readonly LayerRecord[]) => Promise<unknown>, signal: AbortSignal): Promise<LayerRecord[]> {
  const base = layers.findIndex((layer) => !baseDiffIds.has(layer.diffId));
  const keep = base === -1 ? layers.length : base;
  await ensure(layers.slice(0, keep));
  const rest = await Promise.all(layers.slice(keep).map((layer) => store.clamp(layer, epoch, signal)));
  return [...layers.slice(0, keep), ...rest];
}

/** The attestation producers, each timed as BuildKit names the span (`create sbom attestation`, `create provenance attestation`). */
function observedProducers(producers: AttestationProducers, observer: BuildObserver | undefined): AttestationProducers {
  if (observer?.span === undefined) return producers;
  return {
    sbom: (input) => timed(observer, 'create sbom attestation', () => producers.sbom(input), { target: input.target.name }),
    provenance: (request, provenanceSignal) => timed(observer, 'create provenance attestation', () => producers.provenance(request, provenanceSignal)),
  };
}

/** Tells `observer` the layer a RUN/COPY/ADD step made (the last of its stack), once it is made. */
function observedLayer(observer: BuildObserver | undefined, vertex: Vertex | undefined, layers: readonly StepLayer[]): void {
  const type = vertex?.op.type;
  const own = type === 'exec' || type === 'file' ? layers.at(-1) : undefined;
  if (vertex !== undefined && own !== undefined && !isLazyLayer(own)) observer?.layer(vertex.id, { digest: own.digest, size: own.size });
}

/** The selection key → content digest links of a solve's content-keyed steps, for cache exports. */
function keyLinks(keys: ReadonlyMap<string, CacheKey>): KeyLink[] {
  return [...keys.values()].flatMap((k): KeyLink[] => [...(k.links ?? [])]);
}

/** The result cache, telling `observer` the layer each RUN/COPY/ADD step made (lazy ones: when made, see solveTarget). */
function observedCache(cache: LayerResultCache, vertices: ReadonlyMap<string, Vertex>, observer: BuildObserver | undefined): ResultCache<FsResult> {
  if (observer === undefined) return cache;
  const tell = (node: SolveNode, result: FsResult | undefined): void => {
    if (result?.kind === 'layers') observedLayer(observer, vertices.get(node.id), result.layers);
  };
  return {
    linked: (key) => cache.linked(key),
    link: (from, key) => cache.link(from, key),
    load: async (key, node) => {
      const result = await cache.load(key);
      tell(node, result);
      return result;
    },
    save: async (key, node, result, preimage) => {
      await cache.save(key, node, result, preimage);
      tell(node, result);
    },
  };
}

/** A solver failure as the user's error: the failing step's Dockerfile location and what happened. */
function failure(error: unknown, vertices: ReadonlyMap<string, Vertex>, tails: ReadonlyMap<string, string>): unknown {
  if (!(error instanceof VertexError)) return error;
  const vertex = vertices.get(error.node.id);
  const location: SourceLocation | undefined = vertex?.meta.location;
  const inner = error.error;
  if (inner instanceof StagecraftError) return location !== undefined ? inner.withLocation(location) : inner;
  if (inner instanceof ExecFailure) {
    const tail = (tails.get(error.node.id) ?? '').split('\n').filter((l) => l !== '').slice(-10);
    const output = tail.length > 0 ? `\nlast output:\n${tail.map((l) => `  ${l}`).join('\n')}` : '';
    const debug = inner.debugId === undefined ? '' : `; its state is kept: stagecraft debug ${inner.debugId} opens a shell there (stagecraft debug --exec CMD ${inner.debugId} runs one command)`;
    return new StagecraftError('BUILD_STEP_FAILED', `${error.node.name}: ${inner.message}${output}`, {
      hint: `the command failed inside the build container; see its output above${debug}`,
      location,
      cause: inner,
    });
  }
  return error;
}

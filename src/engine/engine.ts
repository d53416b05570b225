/**
 * The composition root: picks the implementations (SQLite database, content store in the state root,
 * the distribution client with docker credentials) and binds the image operations to them. The
 * database and store open on first use, so commands that need no state create none.
 */
import { imageAttestations, type ImageAttestations } from './attestations.js';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Config } from '../config/index.js';
import { formatPlatform, hostPlatform, phaseDone, type Digest, type Platform } from '../core/index.js';
import { HistoryQuery, HistoryRecorder, HistoryStore, Outbox, projectOf, requestFacts } from '../history/index.js';
import { createBuildTracer, type BuildTracer } from '../metrics/index.js';
import { tee } from '../events/index.js';
import { openContent, type Content, type GcOptions, type GcResult, type GcRootProvider, type ImageReference } from '../content/index.js';
import { Database } from '../db/index.js';
import { CacheRecords } from '../cache/index.js';
import { writeOutput, type OutputSpec } from '../exporter/index.js';
import { build, type BuildDeps, type BuildObserver, type BuildOptions, type BuildResult } from './build.js';
import { buildPlatforms } from './multi-platform.js';
import { noSpaceError } from './no-space.js';
import { lockInputs, type LockOptions, type LockResult } from './lock.js';
import { verifyReproducible, type VerifyOptions, type VerifyResult } from './verify.js';
import { sbomImage, type ImageSbom, type SbomOptions } from './sbom.js';
import { policyCheck, type PolicyCheckOptions, type PolicyCheckResult } from './policy-check.js';
import { scanSecrets, type ImageSecrets, type SecretScanOptions } from './scan-secrets.js';
import { diskUsage, prune, type DiskUsage, type PruneOptions, type PruneResult } from './upkeep.js';
import { debugSession, listDebugStates, type DebugSessionOptions, type DebugSessionResult } from './debug.js';
import type { DebugRecord } from '../debug/index.js';
import { loadArchive, writeDockerArchive, writeOciArchive, type LoadResult, type SaveImage } from '../image/index.js';
import { signStoredImage, verifyImageSignature, type SignOptions, type SignResult, type VerifySignatureOptions, type VerifySignatureResult } from './sign.js';
import type { SigningKey, VerifyingKey } from '../attest/index.js';
import { CredentialStore, RegistryClient, type CredentialProvider } from '../registry/index.js';
import {
  findImage,
  history,
  images,
  inspect,
  inspectAny,
  pull,
  push,
  rmi,
  tag,
  type ImageDeps,
  type HistoryEntry,
  type ImageInspect,
  type InspectOptions,
  type LocalInspect,
  type RemoteInspect,
  type ImageSummary,
  type PullOptions,
  type PullResult,
  type PushOptions,
  type PushResult,
  type RemoveResult,
} from './images.js';

export interface EngineOptions {
  /** Registry credentials; default: the docker config at `config.dockerConfigPath`. */
  readonly credentials?: CredentialProvider;
  /** Extra GC roots (the build cache's records). */
  readonly gcRootProviders?: readonly GcRootProvider[];
  /** Milliseconds since the epoch, for the store's ages (default Date.now). */
  readonly clock?: () => number;
  /** Default platform for pull and load (default: this machine's). */
  readonly platform?: Platform;
}

export type ArchiveFormat = 'oci' | 'docker';

export interface SaveOptions {
  readonly format: ArchiveFormat;
  /** A file path (written to a temp file beside it, then renamed) or a stream (e.g. stdout). */
  readonly output: string | Writable;
  readonly signal?: AbortSignal | undefined;
}

export interface SaveResult {
  readonly format: ArchiveFormat;
  readonly images: readonly { readonly names: readonly string[]; readonly digest: Digest }[];
}

export interface LoadInputOptions {
  /** Names the input in messages (default "input"). */
  readonly source?: string | undefined;
  readonly platform?: Platform | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface Engine {
  readonly config: Config;
  pull(ref: string, options?: PullOptions): Promise<PullResult>;
  push(localRef: string, remoteRef?: string, options?: PushOptions): Promise<PushResult>;
  images(): Promise<ImageSummary[]>;
  inspect(ref: string): Promise<ImageInspect>;
  /** A local image, else the manifest or index of a ref the store does not hold, from its registry. */
  inspectAny(ref: string, options?: InspectOptions): Promise<LocalInspect | RemoteInspect>;
  /** The SBOM and provenance attached to an image (local store, else its registry), as buildx imagetools shows them. */
  attestations(ref: string, options?: InspectOptions): Promise<ImageAttestations>;
  /** A local image's history, newest first, with each layer's unpacked size (as `docker history`). */
  history(ref: string, options?: { readonly signal?: AbortSignal | undefined }): Promise<HistoryEntry[]>;
  tag(source: string, target: string): Promise<ImageReference>;
  rmi(refs: readonly string[]): Promise<RemoveResult>;
  save(refs: readonly string[], options: SaveOptions): Promise<SaveResult>;
  load(input: AsyncIterable<Uint8Array>, options?: LoadInputOptions): Promise<LoadResult>;
  gc(options?: GcOptions): Promise<GcResult>;
  /** Space used by kind. */
  du(): Promise<DiskUsage>;
  /** Drops build cache (and with `all`, snapshots and cache mounts), then collects unneeded blobs. */
  prune(options?: PruneOptions): Promise<PruneResult>;
  /** The build history (records of every build of this state root). */
  buildHistory(): Promise<HistoryStore>;
  /** The history with the dashboard's queries and the report outbox (`serve`, `build --report-to`, `history push`). */
  historyAccess(): Promise<{ readonly store: HistoryStore; readonly query: HistoryQuery; readonly outbox: Outbox }>;
  /**
   * The SBOM of an image: from the store, else pulled from its registry; its packages with the file
   * and layer each was found from (see sbom.ts).
   */
  sbom(ref: string, options?: SbomOptions): Promise<ImageSbom>;
  /** Signs a local image (or one in a registry) with a cosign key (see sign.ts). */
  sign(ref: string, key: SigningKey, options?: SignOptions): Promise<SignResult>;
  /** Verifies an image's signatures (and with `attestations`, its signed attestations) with a public key. */
  verifySignature(ref: string, key: VerifyingKey, options?: VerifySignatureOptions): Promise<VerifySignatureResult>;
  /** The policy gate over an existing image (see policy-check.ts). */
  policyCheck(ref: string, options: PolicyCheckOptions): Promise<PolicyCheckResult>;
  /** The secret scan of an image (every layer, deleted files included, and its config): from the store, else its registry (see scan-secrets.ts). */
  scanSecrets(ref: string, options?: SecretScanOptions): Promise<ImageSecrets>;
  /** Builds a Dockerfile (see build.ts). */
  build(options: BuildOptions): Promise<BuildResult>;
  /** The kept states of failed RUN steps, newest first (see debug.ts). */
  debugStates(options?: { readonly warn?: ((message: string) => void) | undefined }): Promise<DebugRecord[]>;
  /** Runs a command in the kept state of a failed RUN step (see debug.ts). */
  debug(options: DebugSessionOptions): Promise<DebugSessionResult>;
  /** Pins the Dockerfile's inputs (images, ADD URLs) and writes stagecraft.lock (see lock.ts). */
  lock(options: LockOptions): Promise<LockResult>;
  /** Rebuilds an image (from its provenance) or a context in fresh state roots and compares (see verify.ts). */
  verify(options: VerifyOptions): Promise<VerifyResult>;
  /** Closes the database. The engine must not be used afterwards. */
  close(): void;
}

/** Paths inside the state root. */
export function statePaths(config: Config): { readonly database: string; readonly content: string } {
  return { database: join(config.stateRoot, 'metadata.db'), content: join(config.stateRoot, 'content') };
}

/**
 * Creates the state root private to its owner (0700, as /var/lib/docker): unpacked layers hold the
 * image's setuid binaries, device nodes and private files with their own modes, and only the mode of
 * the root keeps other users of the host from reaching them. A root that exists with a looser mode is
 * tightened.
 */
export async function ensurePrivateRoot(root: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const info = await stat(root);
  if ((info.mode & 0o077) !== 0) await chmod(root, info.mode & 0o700);
}

export function createEngine(config: Config, options: EngineOptions = {}): Engine {
  return openEngine(config, options).engine;
}

/** The engine and its content store (for the engine's own compositions, e.g. verify's rebuild roots). */
export function openEngine(config: Config, options: EngineOptions = {}): { readonly engine: Engine; readonly content: () => Promise<Content>; readonly deps: ImageDeps } {
  let database: Database | undefined;
  let opening: Promise<Content> | undefined;
  const content = (): Promise<Content> => {
    opening ??= (async () => {
      const paths = statePaths(config);
      await ensurePrivateRoot(config.stateRoot);
      database = Database.open(paths.database);
      phaseDone('engine: SQLite opened (migrations checked)');
      const records = new CacheRecords(database);
      const cacheRoots: GcRootProvider = { name: 'build cache', roots: () => records.referencedBlobs().map((digest) => ({ digest })) };
      const opened = await openContent({
        root: paths.content,
        db: database,
        ...(options.clock === undefined ? {} : { clock: options.clock }),
        gcRootProviders: [...(options.gcRootProviders ?? []), cacheRoots],
      });
      phaseDone('engine: content store opened');
      return opened;
    })();
    return opening;
  };
  const registry = new RegistryClient({
    credentials: options.credentials ?? new CredentialStore({ dockerConfigPath: config.dockerConfigPath }),
    insecureHosts: config.insecureRegistries,
    mirrors: config.registryMirrors,
    responseTimeoutMs: config.registryResponseTimeoutMs,
  });
  const defaultPlatform = options.platform ?? hostPlatform(process.arch);
  /** A full disk as NO_SPACE (naming the path and the space left) rather than a bare ENOSPC. */
  const orNoSpace = async <T>(work: Promise<T>): Promise<T> => {
    try {
      return await work;
    } catch (error) {
      throw await noSpaceError(error, config.stateRoot);
    }
  };
  const deps: ImageDeps = { content, registry, defaultPlatform, snapshotRoot: join(config.stateRoot, 'snapshots') };

  const engine: Engine = {
    config,
    pull: (ref, pullOptions) => orNoSpace(pull(deps, ref, pullOptions)),
    push: (localRef, remoteRef, pushOptions) => push(deps, localRef, remoteRef, pushOptions),
    images: () => images(deps),
    inspect: (ref) => inspect(deps, ref),
    inspectAny: (ref, inspectOptions) => inspectAny(deps, ref, inspectOptions),
    sign: (ref, key, signOptions) => signStoredImage(deps, ref, key, signOptions),
    verifySignature: (ref, key, verifyOptions) => verifyImageSignature(deps, ref, key, verifyOptions),
    attestations: (ref, attestOptions) => imageAttestations(deps, ref, attestOptions?.signal),
    history: (ref, historyOptions) => history(deps, ref, historyOptions?.signal),
    tag: (source, target) => tag(deps, source, target),
    rmi: (refs) => rmi(deps, refs),
    sbom: (ref, sbomOptions) => orNoSpace(sbomImage({ ...deps, stateRoot: config.stateRoot }, ref, sbomOptions)),
    policyCheck: (ref, checkOptions) => orNoSpace(policyCheck({ ...deps, stateRoot: config.stateRoot }, ref, checkOptions)),
    scanSecrets: (ref, scanOptions) => orNoSpace(scanSecrets({ ...deps, stateRoot: config.stateRoot }, ref, scanOptions)),
    async save(refs, saveOptions) {
      const store = await content();
      const byDigest = new Map<Digest, { names: string[]; image: SaveImage }>();
      for (const text of refs) {
        const ref = await findImage(store, text);
        const entry = byDigest.get(ref.digest) ?? { names: [], image: { names: [], descriptor: { mediaType: ref.mediaType, digest: ref.digest, size: ref.size } } };
        if (!entry.names.includes(ref.name)) entry.names.push(ref.name);
        byDigest.set(ref.digest, entry);
      }
      // An OCI archive holds a built image's index with its attestations; a docker-archive the manifest.
      const selected = [...byDigest.values()].map(({ names, image }) => {
        const ref = saveOptions.format === 'oci' ? store.references.get(names[0] ?? '') : undefined;
        const index = ref === undefined ? undefined : store.references.completeIndex(ref);
        return { ...image, names, ...(index === undefined ? {} : { descriptor: index }) };
      });
      const data = saveOptions.format === 'oci'
        ? writeOciArchive(store, selected, { signal: saveOptions.signal })
        : writeDockerArchive(store, selected, { signal: saveOptions.signal });
      await orNoSpace(writeOutput(data, saveOptions.output, saveOptions.signal));
      return { format: saveOptions.format, images: selected.map((image) => ({ names: image.names, digest: image.descriptor.digest })) };
    },
    async load(input, loadOptions = {}) {
      return orNoSpace(loadArchive(await content(), input, {
        platform: loadOptions.platform ?? defaultPlatform,
        source: loadOptions.source ?? 'input',
        signal: loadOptions.signal,
      }));
    },
    async gc(gcOptions) {
      return (await content()).gc(gcOptions);
    },
    async du() {
      const store = await content();
      if (database === undefined) throw new Error('engine: the database did not open');
      return diskUsage({ stateRoot: config.stateRoot, content: store, db: database, clock: options.clock ?? Date.now });
    },
    async prune(pruneOptions) {
      const store = await content();
      if (database === undefined) throw new Error('engine: the database did not open');
      return prune({ stateRoot: config.stateRoot, content: store, db: database, clock: options.clock ?? Date.now }, { debugKeep: config.debugKeep, ...pruneOptions });
    },
    async debugStates(listOptions) {
      await content();
      if (database === undefined) throw new Error('engine: the database did not open');
      return listDebugStates({ stateRoot: config.stateRoot, db: database, keep: config.debugKeep, warn: listOptions?.warn ?? (() => undefined) });
    },
    async debug(debugOptions) {
      await content();
      if (database === undefined) throw new Error('engine: the database did not open');
      return debugSession({ stateRoot: config.stateRoot, db: database, keep: config.debugKeep, warn: debugOptions.note }, debugOptions);
    },
    async build(buildOptions) {
      const store = await content();
      const db = database;
      if (db === undefined) throw new Error('engine: the database did not open');
      const caller = buildOptions.events;
      // With an OTLP endpoint configured, the build's events and timed phases become spans too.
      const tracer = await openTracer(config, (message) => caller.emit({ type: 'build.warning', time: Date.now(), message }));
      // Every build is recorded in the history: its events pass through the recorder first.
      const recorder = new HistoryRecorder({
        open: () => new HistoryStore(db, options.clock),
        request: requestFacts({
          contextDir: buildOptions.contextDir,
          dockerfile: buildOptions.dockerfile.path,
          platform: (buildOptions.platforms ?? [buildOptions.platform]).map(formatPlatform).join(','),
          buildArgs: buildOptions.buildArgs,
          secrets: buildOptions.secrets,
          ssh: buildOptions.ssh,
          tags: buildOptions.tags,
          outputs: buildOptions.outputs.map(describeOutput),
          noCache: buildOptions.noCache,
          push: buildOptions.push,
        }),
        next: buildOptions.events,
        traceId: tracer === undefined ? undefined : () => tracer.traceId,
      });
      buildOptions = { ...buildOptions, events: tracer === undefined ? recorder : tee(recorder, tracer) };
      // The git remote is looked up while the build runs (it is only needed when the record is written).
      const naming = projectOf(buildOptions.contextDir).then((project) => recorder.setProject(project), () => undefined);
      const buildDeps: BuildDeps = {
        stateRoot: config.stateRoot,
        content: () => Promise.resolve(store),
        database: () => db,
        // Pulls, pushes and cache transfers of this build report to its event stream.
        registry: registry.withEvents(buildOptions.events),
        push: (localRef, remoteRef, signal) => push(deps, localRef, remoteRef, { signal, events: buildOptions.events }),
        observer: tracer === undefined ? recorder : tracedObserver(recorder, tracer),
      };
      let result: BuildResult;
      try {
        result = await ((buildOptions.platforms?.length ?? 1) > 1 ? buildPlatforms : build)(buildDeps, { ...buildOptions, execConcurrency: buildOptions.execConcurrency ?? config.maxParallelism, debugKeep: buildOptions.debugKeep ?? config.debugKeep });
      } finally {
        await naming;
        const failed = await tracer?.close();
        if (failed !== undefined) caller.emit({ type: 'build.warning', time: Date.now(), message: `the build's trace could not be exported to ${config.otlpTracesEndpoint ?? ''}: ${failed}` });
      }
      // The automatic keep-storage policy of the config file.
      if (config.keepStorage !== undefined) {
        await prune({ stateRoot: config.stateRoot, content: store, db, clock: options.clock ?? Date.now }, { keepStorage: config.keepStorage, olderThanMs: Number.POSITIVE_INFINITY, debugKeep: config.debugKeep, signal: buildOptions.signal });
      }
      return result;
    },
    async buildHistory() {
      await content();
      if (database === undefined) throw new Error('engine: the database did not open');
      return new HistoryStore(database, options.clock);
    },
    async lock(lockOptions) {
      return lockInputs({ content: await content(), registry, stateRoot: config.stateRoot }, lockOptions);
    },
    verify: (verifyOptions) => verifyReproducible({ config, content, deps, open: (rebuildConfig) => openEngine(rebuildConfig, options) }, verifyOptions),
    async historyAccess() {
      await content();
      if (database === undefined) throw new Error('engine: the database did not open');
      // The store first: it applies the history migrations the other two read.
      const store = new HistoryStore(database, options.clock);
      return { store, query: new HistoryQuery(database), outbox: new Outbox(database, options.clock) };
    },
    close() {
      database?.close();
    },
  };
  return { engine, content, deps };
}

/** The build's tracer when traces are configured; the OTel SDK is loaded only then. Never throws. */
async function openTracer(config: Config, warn: (message: string) => void): Promise<BuildTracer | undefined> {
  const endpoint = config.otlpTracesEndpoint;
  if (endpoint === undefined) return undefined;
  try {
    return await createBuildTracer({ endpoint });
  } catch (error) {
    warn(`traces are not exported (${endpoint}): ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** The history recorder's observer, with the timed phases going to the tracer as spans. */
function tracedObserver(recorder: HistoryRecorder, tracer: BuildTracer): BuildObserver {
  return {
    locate: (vertex, location) => recorder.locate(vertex, location),
    layer: (vertex, layer) => recorder.layer(vertex, layer),
    planned: (steps) => recorder.planned(steps),
    attestations: (made) => recorder.attestations(made),
    supplyChain: (facts) => recorder.supplyChain(facts),
    span: (span) => tracer.span(span),
  };
}

/** An output as `type=…,dest=…` or `type=image,name=…` (what the history shows of it). */
function describeOutput(output: OutputSpec): string {
  switch (output.type) {
    case 'local':
    case 'tar':
      return `type=${output.type},dest=${output.dest}`;
    case 'oci':
    case 'docker':
      return [`type=${output.type}`, ...(output.dest === undefined ? [] : [`dest=${output.dest}`]), ...(output.names.length > 0 ? [`name=${output.names.join(',')}`] : [])].join(',');
    case 'image':
      return [`type=image`, ...(output.names.length > 0 ? [`name=${output.names.join(',')}`] : []), ...(output.push ? ['push=true'] : [])].join(',');
  }
}

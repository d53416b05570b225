/**
 * `build`: Dockerfile + context → plan → solve (cache, runc, overlay snapshots) → image in the store
 * → outputs. The composition of the build modules; every piece is chosen here (DESIGN.md engine/).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuildContext, CacheRecords, STATE_ROOT_LOCK, StatCache, StoreLocks, StepHistory, describeOpChange, explainMiss, exportCacheTo, importCaches, inlineCacheValue, type CacheExportSpec, type CacheLocation } from '../cache/index.js';
import type { Content } from '../content/index.js';
import { StagecraftError, formatImageRef, formatPlatform, parseImageRef, type Digest, type Platform, type SourceLocation } from '../core/index.js';
import type { Database } from '../db/index.js';
import { ShellLex, convertDockerfile, loadDockerfile, parseTriggerCommands, type NamedContextSpec } from '../dockerfile/index.js';
import type { EventSink } from '../events/index.js';
import { createRuncExecutor } from '../executor/index.js';
import type { OutputSpec } from '../exporter/index.js';
import { DEFAULT_EXPORT_COMPRESSION, assembleImage, compressLayers, rfc3339, writeDockerArchive, writeOciArchive, writeOciLayoutDir, type AssembleLayer, type ExportCompressionSpec, type ImageAnnotations } from '../image/index.js';
import { BaseImages, CacheMountPool, ExecFailure, HttpDownloads, LayerResultCache, LayerStore, opFor, type FsResult } from '../ops/index.js';
import type { ExecSettings, Vertex } from '../plan/index.js';
import type { RegistryClient } from '../registry/index.js';
import { applyLayer, openSnapshotter, packDirectory, type Snapshotter } from '../snapshot/index.js';
import { VertexError, solve, type SolveNode } from '../solver/index.js';
import { parseDockerignore } from '../util/dockerignore.js';
import { Disposer } from '../util/disposer.js';
import { PROCESS_OWNER } from '../util/owner.js';
import { checkBuildEntitlements, checkPlanEntitlements, type Entitlement } from './entitlements.js';
import { prepareNamedContexts } from './named-contexts.js';
import { noSpaceError } from './no-space.js';
import { RUNC_STATE_PARENT, sweepAbandoned } from './upkeep.js';


export interface BuildOptions {
  readonly contextDir: string;
  readonly dockerfile: { readonly path: string; readonly text: string };
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly target?: string | undefined;
  readonly platform: Platform;
  readonly buildPlatform: Platform;
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
  readonly sourceDateEpoch?: number | undefined;
  /** `--add-host`, `--shm-size`, `--ulimit` for every RUN step. */
  readonly exec?: ExecSettings | undefined;
  /** `--annotation`: added to the image's manifest (and its descriptor/index where the key asks). */
  readonly annotations?: ImageAnnotations | undefined;
  readonly execConcurrency?: number | undefined;
  readonly events: EventSink;
  readonly signal?: AbortSignal | undefined;
  /** Named build contexts (`--build-context`) by key; a directory's path is absolute. */
  readonly namedContexts?: ReadonlyMap<string, NamedContextSpec> | undefined;
  /** Writes a `-` output (tar to stdout). */
  readonly stdout?: NodeJS.WritableStream | undefined;
}

export interface BuildResult {
  readonly manifestDigest: Digest;
  readonly configDigest: Digest;
  /** Sum of the layer blob sizes, config and manifest. */
  readonly size: number;
  readonly names: readonly string[];
  readonly executed: number;
  readonly cached: number;
  readonly durationMs: number;
  readonly warnings: readonly string[];
  readonly exported: readonly string[];
}

export interface BuildDeps {
  readonly stateRoot: string;
  readonly content: () => Promise<Content>;
  readonly database: () => Database;
  readonly registry: RegistryClient;
  readonly push: (localRef: string, remoteRef: string | undefined, signal: AbortSignal | undefined) => Promise<unknown>;
}

async function readDockerignore(contextDir: string, dockerfilePath: string): Promise<string[]> {
  // BuildKit: <Dockerfile>.dockerignore next to the Dockerfile wins over <context>/.dockerignore.
  for (const candidate of [`${dockerfilePath}.dockerignore`, join(contextDir, '.dockerignore')]) {
    try {
      return parseDockerignore(await readFile(candidate));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return [];
}

export async function build(deps: BuildDeps, options: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const buildId = randomBytes(8).toString('hex');
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  const disposer = new Disposer();
  // The last lines of each step's output, for the error message of a failing step.
  const tails = new Map<string, string>();
  const events: EventSink = {
    emit: (event) => {
      if (event.type === 'vertex.log') tails.set(event.vertex, ((tails.get(event.vertex) ?? '') + event.data).slice(-4096));
      options.events.emit(event);
    },
  };
  // Named by its owner, so a killed build's run dir is swept by the next build (sweepAbandoned).
  const runDir = join(deps.stateRoot, 'run', `${PROCESS_OWNER}-${buildId}`);
  events.emit({ type: 'build.started', time: Date.now(), buildId, target: options.target ?? '', vertices: 0 });
  try {
    checkBuildEntitlements(options.network, options.allow ?? []);
    const parsed = loadDockerfile(options.dockerfile.text, options.dockerfile.path);
    const content = await deps.content();
    const db = deps.database();
    // Every build holds the state root shared; `prune --all` takes it exclusive, so it never removes
    // snapshots or cache mounts a running build uses.
    const locks = new StoreLocks(db);
    disposer.use(await locks.acquire(STATE_ROOT_LOCK, 'shared', signal));
    const records = new CacheRecords(db);
    const warn = (message: string): void => events.emit({ type: 'build.warning', time: Date.now(), message });
    await importCaches({ content, registry: deps.registry, records }, options.cacheFrom ?? [], warn, signal);
    const snapshotRoot = join(deps.stateRoot, 'snapshots');
    const snapshotter: Snapshotter = await openSnapshotter(snapshotRoot);
    await sweepAbandoned(deps.stateRoot, snapshotter);
    disposer.defer(() => rm(runDir, { recursive: true, force: true }));
    const baseImages = new BaseImages({ content, registry: deps.registry, pull: options.pull });
    const layers = new LayerStore({
      snapshotter,
      blobs: content.blobs,
      sourceDateEpoch: options.sourceDateEpoch,
      runDir: join(runDir, 'mnt'),
      fetchBlob: async (layer, fetchSignal) => {
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
    const contextFor = (name: string): BuildContext => named.dirs.get(name) ?? context;

    const converted = await convertDockerfile(parsed, {
      lex: new ShellLex({ escapeToken: parsed.escapeToken }),
      buildArgs: options.buildArgs,
      target: options.target,
      buildPlatform: options.buildPlatform,
      targetPlatform: options.platform,
      resolveImage: async (ref, platform) => {
        const base = await baseImages.resolve(ref, platform, signal);
        return { ref: base.pinned, image: base.config };
      },
      parseTriggers: (text) => parseTriggerCommands(text, 'ONBUILD trigger'),
      noCache: options.noCache,
      noCacheFilter: new Set(options.noCacheFilter.map((s) => s.toLowerCase())),
      sourceDateEpoch: options.sourceDateEpoch,
      exec: options.exec,
      namedContexts: named.convert,
    });
    for (const warning of converted.warnings) events.emit({ type: 'build.warning', time: Date.now(), message: warning });
    checkPlanEntitlements(converted.plan.vertices, options.allow ?? []);

    // runc state on a tmpfs, one directory per build named by its owner, so a killed build's
    // containers and state can be swept by the next one (sweepAbandoned above).
    const stateDir = join(RUNC_STATE_PARENT, `${PROCESS_OWNER}-${buildId}`);
    disposer.defer(() => rm(stateDir, { recursive: true, force: true }));
    const executor = createRuncExecutor({ stateDir, runDir: join(runDir, 'runc') });
    const vertices = new Map<string, Vertex>(converted.plan.vertices.map((v) => [v.id, v]));
    const nodes = new Map<string, SolveNode>(converted.plan.vertices.map((v) => [v.id, { id: v.id, inputs: v.inputs, name: v.meta.name, stage: v.meta.stage, ignoreCache: v.meta.ignoreCache }]));
    const views: string[] = [];
    const opDeps = {
      executor,
      snapshotter,
      layers,
      secrets: { get: (id: string) => Promise.resolve(options.secrets.get(id)) },
      ssh: options.ssh,
      cacheMounts: new CacheMountPool(join(deps.stateRoot, 'cache-mounts'), locks),
      hostname: 'buildkitsandbox',
      defaultNetwork: options.network,
      baseImages,
      downloads: new HttpDownloads({ root: join(runDir, 'http'), allowHostLocal: (options.allow ?? []).includes('network.host'), events }),
      context: {
        hash: (name: string, include: readonly string[], hashSignal: AbortSignal) => contextFor(name).hash(include, [], hashSignal),
        view: async (name: string, include: readonly string[]) => {
          const view = disposer.use(await contextFor(name).view(include, []));
          views.push(view.path);
          return view.path;
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
    const history = new StepHistory(db);
    const ownOp = (preimage: unknown): unknown => (typeof preimage === 'object' && preimage !== null && 'op' in preimage ? preimage.op : undefined);
    let result;
    try {
      result = await solve<FsResult>({
        nodes,
        roots: [converted.target.root],
        opFor: (node) => {
          const vertex = vertices.get(node.id);
          if (vertex === undefined) throw new Error(`no vertex ${node.id}`);
          return opFor(vertex, opDeps);
        },
        cache: new LayerResultCache(records, content.blobs),
        // Directory results (context, downloads) are never stored, so they always "miss": not worth a word.
        explainMiss: (node, key, inputs) => (vertices.get(node.id)?.op.type === 'context' || vertices.get(node.id)?.op.type === 'http') ? [] : explainMiss(key.preimage, history.previous(stepId(node.id)), inputs.map((input) => {
          const vertex = vertices.get(input.node.id);
          const previous = history.previous(stepId(input.node.id));
          const source = vertex?.op.type === 'context' || vertex?.op.type === 'image';
          return {
            name: input.node.name,
            key: input.key.key,
            ownChange: source && previous !== undefined && previous.key !== input.key.key ? describeOpChange(ownOp(input.key.preimage), ownOp(previous.preimage)) : undefined,
          };
        })),
        events,
        signal,
        // RUN steps mostly wait (I/O, sleeps, network): more slots than cores, as BuildKit runs them unbounded.
        execConcurrency: options.execConcurrency ?? Math.max(4, availableParallelism()),
      });
    } catch (error) {
      const mapped = failure(error, vertices, tails);
      if (!(error instanceof VertexError)) throw mapped;
      // A step that filled the disk: NO_SPACE at its Dockerfile line.
      const full = await noSpaceError(mapped, deps.stateRoot, error.node.name);
      const location = vertices.get(error.node.id)?.meta.location;
      throw full !== mapped && full instanceof StagecraftError && location !== undefined ? full.withLocation(location) : full;
    }
    for (const [id, key] of result.keys) history.record(stepId(id), key.key, key.preimage);
    const root = result.results.get(converted.target.root);
    if (root === undefined || root.kind !== 'layers') throw new Error('build: the target produced no filesystem');

    // Base-image layers may still be only in the registry: the image in the store needs them.
    await Promise.all(root.layers.map((layer) => layers.ensureBlob(layer, signal)));
    // Steps store plain tar layers. The image's layers are compressed when it leaves the machine (a
    // push, an OCI/Docker archive) or when an output names a compression; a local-only image keeps
    // them plain, as BuildKit does in Docker's image store. Each layer is compressed once.
    const exportSpec = imageExportCompression(options);
    const imageLayers = exportSpec === undefined ? root.layers : await compressLayers(content.blobs, root.layers, exportSpec, signal);
    // Assemble and store the image.
    const image = converted.target.image;
    const labels = { ...(image.config.Labels ?? {}), ...Object.fromEntries(options.labels) };
    const created = rfc3339(options.sourceDateEpoch ?? Math.floor(Date.now() / 1000));
    const inline = (options.cacheTo ?? []).some((s) => s.location.type === 'inline') ? inlineCacheValue(records, [...result.keys.values()].map((k) => k.key), imageLayers, created) : undefined;
    const assembled = assembleImage({
      architecture: image.architecture,
      os: image.os,
      variant: image.variant,
      author: image.author,
      config: { ...image.config, ...(Object.keys(labels).length > 0 ? { Labels: labels } : {}) },
      history: image.history,
      layers: imageLayers,
      created,
      // oci-mediatypes=false on an image output: Docker's media types (BuildKit's docker exporter default).
      docker: options.outputs.some((o) => o.type === 'image' && !o.ociMediaTypes),
      annotations: options.annotations?.manifest,
      inlineCache: inline?.value,
    });
    await content.blobs.put(assembled.config, { digest: assembled.configDigest, signal });
    await content.blobs.put(assembled.manifest, { digest: assembled.manifestDigest, signal });
    const descriptorAnnotations = options.annotations?.manifestDescriptor ?? {};
    const descriptor = { mediaType: assembled.manifestMediaType, digest: assembled.manifestDigest, size: assembled.manifest.length, ...(Object.keys(descriptorAnnotations).length > 0 ? { annotations: { ...descriptorAnnotations } } : {}) };
    const names: string[] = [];
    const imageOutputs = options.outputs.filter((o): o is Extract<OutputSpec, { type: 'image' }> => o.type === 'image');
    for (const name of [...options.tags, ...imageOutputs.flatMap((o) => o.names)]) {
      const full = formatImageRef(parseImageRef(name));
      if (!names.includes(full)) names.push(full);
    }
    const platform = formatPlatform(options.platform);
    for (const name of names) content.references.set(name, { ...descriptor, platform });

    const exported: string[] = [];
    const pushNames = new Set<string>();
    if (options.push) for (const n of names) pushNames.add(n);
    for (const output of imageOutputs) if (output.push) for (const n of output.names) pushNames.add(formatImageRef(parseImageRef(n)));
    for (const name of pushNames) {
      await deps.push(name, undefined, signal);
      exported.push(`pushed ${name}`);
    }
    for (const output of options.outputs) {
      switch (output.type) {
        case 'image':
          break;
        case 'oci':
        case 'docker': {
          const outNames = output.names.length > 0 ? output.names.map((n) => formatImageRef(parseImageRef(n))) : names;
          const saved = { names: outNames, descriptor };
          if (!output.tar) {
            // tar=false: the OCI image layout as a directory (buildx's meaning), e.g. for --build-context NAME=oci-layout://DIR.
            if (output.dest === '-') throw new StagecraftError('USAGE', `--output ${output.raw}: tar=false writes a directory, not stdout`, { hint: `write type=${output.type},tar=false,dest=DIR` });
            await writeOciLayoutDir(content, [saved], output.dest, { signal });
            exported.push(`${output.type} layout ${output.dest}`);
            break;
          }
          const data = output.type === 'oci' ? writeOciArchive(content, [saved], { signal }) : writeDockerArchive(content, [saved], { signal });
          await writeStream(Readable.from(data), output.dest, options.stdout);
          exported.push(`${output.type} archive ${output.dest}`);
          break;
        }
        case 'local':
        case 'tar': {
          const dir = output.type === 'local' ? output.dest : join(runDir, 'tar-export');
          await mkdir(dir, { recursive: true });
          for (const layer of root.layers) {
            await layers.ensureBlob(layer, signal);
            await applyLayer(dir, await content.blobs.open(layer.digest), { whiteouts: 'delete', signal });
          }
          if (output.type === 'tar') await writeStream(packDirectory(dir, { sourceDateEpoch: options.sourceDateEpoch, signal }), output.dest, options.stdout);
          exported.push(`${output.type} ${output.dest}`);
          break;
        }
      }
    }
    const exportLayers = (plain: readonly AssembleLayer[], exportSignal: AbortSignal | undefined): Promise<AssembleLayer[]> => compressLayers(content.blobs, plain, DEFAULT_EXPORT_COMPRESSION, exportSignal);
    for (const spec of options.cacheTo ?? []) {
      const targetKey = result.keys.get(converted.target.root)?.key;
      const keys = spec.mode === 'max' ? [...result.keys.values()].map((k) => k.key) : targetKey === undefined ? [] : [targetKey];
      const line = await exportCacheTo({ content, registry: deps.registry, records, exportLayers }, spec, keys, inline?.count ?? 0, warn, signal);
      if (line !== undefined) exported.push(line);
    }
    const size = imageLayers.reduce((sum, l) => sum + l.size, 0) + assembled.config.length + assembled.manifest.length;
    const durationMs = Date.now() - started;
    events.emit({ type: 'build.completed', time: Date.now(), durationMs, executed: result.executed, cached: result.cached });
    return { manifestDigest: assembled.manifestDigest, configDigest: assembled.configDigest, size, names, executed: result.executed, cached: result.cached, durationMs, warnings: converted.warnings, exported };
  } catch (caught) {
    const error = await noSpaceError(caught, deps.stateRoot);
    events.emit({ type: 'build.failed', time: Date.now(), durationMs: Date.now() - started, error: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await disposer.dispose();
  }
}

/** The compression the image's layers get, or undefined to keep a local-only image's layers plain. */
function imageExportCompression(options: BuildOptions): ExportCompressionSpec | undefined {
  const specs = options.outputs.flatMap((o) => (o.type === 'image' || o.type === 'oci' || o.type === 'docker' ? [o.compression] : []));
  const explicit = specs.find((c) => c.explicit);
  if (explicit !== undefined) return explicit;
  const leaves = options.push || options.outputs.some((o) => (o.type === 'image' && o.push) || o.type === 'oci' || o.type === 'docker');
  return leaves ? DEFAULT_EXPORT_COMPRESSION : undefined;
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
    return new StagecraftError('BUILD_STEP_FAILED', `${error.node.name}: ${inner.message}${output}`, {
      hint: 'the command failed inside the build container; see its output above',
      location,
      cause: inner,
    });
  }
  return error;
}

async function writeStream(source: Readable | AsyncIterable<Uint8Array>, dest: string, stdout: NodeJS.WritableStream | undefined): Promise<void> {
  if (dest === '-') {
    if (stdout === undefined) throw new StagecraftError('USAGE', 'an output to stdout (dest=-) needs a stdout', { hint: 'write to a file with dest=FILE' });
    await pipeline(source, stdout, { end: false });
    return;
  }
  await mkdir(dirname(dest), { recursive: true });
  const temp = `${dest}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await pipeline(source, createWriteStream(temp));
    await rename(temp, dest);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

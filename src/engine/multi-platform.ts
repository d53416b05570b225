/**
 * `--platform linux/amd64,linux/arm64`: one build per platform, one image index. Each platform is the
 * ordinary build (convert with its TARGETPLATFORM, solve, assemble, attest, scan, policy) storing its
 * image unnamed; then the index of their manifests goes through the exporters (names, push, oci
 * archive) once. The platforms are built in turn on one cache: a stage that resolves to the same
 * vertices for every platform (a `FROM --platform=$BUILDPLATFORM` build stage that does not read
 * TARGETARCH) runs for the first platform and is a cache hit for the others.
 *
 * The stream shows one build: one `build.started`, the platforms' steps, one `build.completed` (or
 * `build.failed`), so history, metrics and renderers see one build.
 */
import { randomBytes } from 'node:crypto';
import { CacheRecords } from '../cache/index.js';
import { StagecraftError, formatPlatform, parsePlatform, platformEquals, type Platform } from '../core/index.js';
import { ShellLex, buildStageGraph, loadDockerfile } from '../dockerfile/index.js';
import type { BuildEvent, EventSink } from '../events/index.js';
import { checkEmulation } from '../executor/index.js';
import { resolveExporters, storePlatformIndex, type BuiltImage, type ExportContext, type PlatformImage } from '../exporter/index.js';
import { build, buildFailedEvent, type BuildDeps, type BuildOptions, type BuildResult } from './build.js';

/** Builds every platform of `options.platforms` (two or more) and exports one index of their images. */
export async function buildPlatforms(deps: BuildDeps, options: BuildOptions): Promise<BuildResult> {
  const platforms = options.platforms ?? [options.platform];
  const started = Date.now();
  const exports = resolveExporters({ outputs: options.outputs, tags: options.tags, push: options.push, cacheTo: options.cacheTo, platforms: platforms.length });
  if (options.sign !== undefined) throw new StagecraftError('USAGE', '--sign with several platforms is not supported yet', { hint: 'sign the pushed index afterwards with `stagecraft sign`, or build one platform per run' });
  const buildId = randomBytes(8).toString('hex');
  const outer = options.events;
  // The platforms' own build.started/completed/failed are folded into this build's.
  let failed: Extract<BuildEvent, { type: 'build.failed' }> | undefined;
  const inner: EventSink = {
    emit: (event) => {
      if (event.type === 'build.failed') failed = event;
      if (event.type === 'build.started' || event.type === 'build.completed' || event.type === 'build.failed') return;
      outer.emit(event);
    },
  };
  outer.emit({ type: 'build.started', time: Date.now(), buildId, target: options.target ?? '', vertices: 0 });
  try {
    // Every platform's RUN steps are known from the Dockerfile: a missing QEMU handler fails before the first platform builds.
    await checkEmulation(runPlatformsOfDockerfile(options, platforms), { host: options.buildPlatform, binfmtDir: options.binfmtDir });
    const built: { platform: Platform; result: BuildResult }[] = [];
    for (const platform of platforms) {
      const result = await build(deps, {
        ...options,
        platform,
        platforms: undefined,
        tags: [],
        outputs: [],
        push: false,
        cacheTo: [],
        layerForm: { compression: exports.compression, dockerMediaTypes: exports.dockerMediaTypes },
        events: inner,
      });
      built.push({ platform, result });
    }
    const content = await deps.content();
    const images: PlatformImage[] = built.map(({ platform, result }) => ({ platform, manifest: result.manifest ?? { mediaType: '', digest: result.manifestDigest, size: 0 }, index: result.index }));
    const index = await storePlatformIndex(content, images, { docker: exports.dockerMediaTypes, signal: options.signal });
    // Readers of one image (run, history, FROM of a local name) take this machine's platform, else the first.
    const primary = built.find((b) => platformEquals(b.platform, options.buildPlatform)) ?? built[0];
    if (primary === undefined) throw new Error('multi-platform build without platforms');
    const manifest = primary.result.manifest;
    if (manifest === undefined) throw new Error('build: no manifest descriptor');
    const signal = options.signal ?? new AbortController().signal;
    const image: BuiltImage = {
      descriptor: manifest,
      platform: formatPlatform(primary.platform),
      names: exports.names,
      rootfs: () => Promise.reject(new Error('a multi-platform image has no single filesystem')),
      cacheKeys: { target: undefined, all: [] },
      inlineCacheRecords: 0,
      index,
      attestations: [],
    };
    const warn = (message: string): void => outer.emit({ type: 'build.warning', time: Date.now(), message });
    const context: ExportContext = {
      content,
      registry: deps.registry,
      records: new CacheRecords(deps.database()),
      // --cache-to is refused for several platforms before the build (resolveExporters), so no cache export needs layers here.
      resolveLayers: () => Promise.reject(new Error('a multi-platform build exports no cache')),
      push: (name, pushSignal) => deps.push(name, undefined, pushSignal),
      stdout: options.stdout,
      dockerSocket: options.dockerSocket,
      sourceDateEpoch: primary.result.epoch?.seconds,
      warn,
      signal,
    };
    const exported: string[] = [];
    for (const exporter of exports.exporters) exported.push(...(await exporter.export(image, context)));
    const executed = built.reduce((sum, b) => sum + b.result.executed, 0);
    const cached = built.reduce((sum, b) => sum + b.result.cached, 0);
    const size = built.reduce((sum, b) => sum + b.result.size, 0) + index.size;
    const durationMs = Date.now() - started;
    const epoch = primary.result.epoch;
    outer.emit({ type: 'build.completed', time: Date.now(), durationMs, executed, cached, image: { digest: index.digest, configDigest: primary.result.configDigest, size }, ...(epoch === undefined ? {} : { epoch }) });
    const summary = built.flatMap((b) => (b.result.supplyChain?.summary ?? []).map((line) => `${formatPlatform(b.platform)}: ${line.trimStart()}`));
    return {
      manifestDigest: manifest.digest,
      manifest,
      index,
      platforms: built.map((b) => ({ platform: formatPlatform(b.platform), manifestDigest: b.result.manifestDigest, configDigest: b.result.configDigest })),
      configDigest: primary.result.configDigest,
      size,
      names: exports.names,
      executed,
      cached,
      durationMs,
      warnings: [...new Set(built.flatMap((b) => b.result.warnings))],
      exported,
      ...(epoch === undefined ? {} : { epoch }),
      ...(summary.length > 0 ? { supplyChain: { summary, signed: false } } : {}),
    };
  } catch (error) {
    if (failed !== undefined) {
      // A platform's build failed: its event (step, location, code), timed as the whole build.
      outer.emit({ ...failed, time: Date.now(), durationMs: Date.now() - started });
      throw error;
    }
    outer.emit(buildFailedEvent(error, started, options.signal));
    throw error;
  }
}

/**
 * The platforms RUN steps run as, over every target platform, from the Dockerfile's stage graph: a
 * needed stage with a RUN runs as its `FROM --platform` (e.g. $BUILDPLATFORM), else as the target.
 * Base images' ONBUILD triggers are not known yet (each platform's build checks its plan again).
 */
function runPlatformsOfDockerfile(options: BuildOptions, platforms: readonly Platform[]): Platform[] {
  const parsed = loadDockerfile(options.dockerfile.text, options.dockerfile.path);
  const lex = new ShellLex({ escapeToken: parsed.escapeToken });
  const out: Platform[] = [];
  for (const target of platforms) {
    const graph = buildStageGraph(parsed, { lex, buildArgs: options.buildArgs, target: options.target, buildPlatform: options.buildPlatform, targetPlatform: target, namedContexts: new Set(options.namedContexts?.keys() ?? []) });
    for (const index of graph.needed) {
      const stage = graph.stages[index];
      if (stage === undefined || stage.replaced === true || !stage.stage.commands.some((c) => c.kind === 'run')) continue;
      try {
        out.push(stage.platform === undefined ? target : parsePlatform(stage.platform));
      } catch {
        // an invalid FROM --platform: the build reports it at its line
      }
    }
  }
  return out;
}

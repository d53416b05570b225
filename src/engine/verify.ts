/**
 * `stagecraft verify`: proves (or disproves) that a build is reproducible. A CONTEXT is built twice,
 * an IMAGE is rebuilt from what its provenance records (epoch, build args, target, platform,
 * Dockerfile, base images pinned by digest); every build runs in a fresh temporary state root (no
 * cache, nothing shared). The manifests and configs are compared by digest; on a mismatch the
 * semantic diff (image/semantic-diff.ts) says what differs, layer by layer, with the Dockerfile step
 * that made each differing layer (from the rebuild's step records).
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { parseDependencyPurl } from '../attest/index.js';
import type { Config } from '../config/index.js';
import { ClampedLayers } from '../cache/index.js';
import type { Content } from '../content/index.js';
import { StagecraftError, formatImageRef, formatPlatform, parseDigest, parseImageRef, type Digest, type Platform } from '../core/index.js';
import { nullSink, type EventSink } from '../events/index.js';
import type { StepRecord } from '../history/index.js';
import { platformFromOci } from '../oci/index.js';
import { diffImages, readStoredImage, type ImageDiff, type StepSource, type StoredImage } from '../image/index.js';
import { imageAttestations } from './attestations.js';
import { epochSeconds } from './epoch.js';
import type { Engine } from './engine.js';
import { findImage, type ImageDeps } from './images.js';
import type { BuildPins } from './locked.js';

/** What one build is asked: the parts of BuildOptions a rebuild must repeat. */
export interface RebuildRequest {
  readonly contextDir: string;
  readonly dockerfile: { readonly path: string; readonly text: string };
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly labels: ReadonlyMap<string, string>;
  readonly target?: string | undefined;
  readonly platform: Platform;
  readonly buildPlatform: Platform;
  readonly sourceDateEpoch?: number | undefined;
  readonly pins?: BuildPins | undefined;
}

export type VerifySubject =
  | { readonly kind: 'context'; readonly request: RebuildRequest }
  | {
      readonly kind: 'image';
      readonly ref: string;
      /** The context to rebuild from (default: none; a git source is not fetched). */
      readonly contextDir?: string | undefined;
      readonly buildPlatform: Platform;
    };

export interface VerifyOptions {
  readonly subject: VerifySubject;
  /** Keep the rebuild state roots here (default: temporary, removed afterwards). */
  readonly keepDir?: string | undefined;
  /** Progress of the builds. */
  readonly events?: EventSink | undefined;
  readonly toolVersion?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface ImageDigests {
  /** Where the image comes from: `build 1`, `rebuild`, or the image's name. */
  readonly label: string;
  readonly index?: Digest | undefined;
  readonly manifest: Digest;
  readonly config: Digest;
}

export interface VerifyResult {
  readonly subject: string;
  /** Same manifest digest (and so the same config and layers). */
  readonly reproduced: boolean;
  /** The SOURCE_DATE_EPOCH the builds used, when known. */
  readonly epoch?: number | undefined;
  readonly a: ImageDigests;
  readonly b: ImageDigests;
  readonly diff?: ImageDiff | undefined;
  /** What the reader should know (e.g. why index digests differ). */
  readonly notes: readonly string[];
  /** The kept state roots (`--keep-dir`). */
  readonly kept?: string | undefined;
}

export interface VerifyDeps {
  readonly config: Config;
  readonly content: () => Promise<Content>;
  readonly deps: ImageDeps;
  /** Opens an engine on another state root (the rebuilds'). */
  readonly open: (config: Config) => { readonly engine: Engine; readonly content: () => Promise<Content> };
}

const REBUILD_NAME = 'stagecraft-verify/rebuild:latest';

interface Rebuilt {
  readonly digests: ImageDigests;
  readonly image: StoredImage;
  readonly content: Content;
  /** Each step that made a layer, by the layer's digest (and by its clamped layer's, as the image holds it). */
  readonly steps: ReadonlyMap<string, StepRecord>;
  readonly epoch?: number | undefined;
  readonly engine: Engine;
}

async function rebuild(deps: VerifyDeps, root: string, label: string, request: RebuildRequest, options: VerifyOptions): Promise<Rebuilt> {
  const opened = deps.open({ ...deps.config, stateRoot: root, keepStorage: undefined });
  try {
    const result = await opened.engine.build({
      contextDir: request.contextDir,
      dockerfile: request.dockerfile,
      buildArgs: request.buildArgs,
      target: request.target,
      platform: request.platform,
      buildPlatform: request.buildPlatform,
      secrets: new Map(),
      ssh: new Map(),
      tags: [REBUILD_NAME],
      outputs: [],
      push: false,
      noCache: false,
      noCacheFilter: [],
      pull: false,
      network: 'default',
      labels: request.labels,
      sourceDateEpoch: request.sourceDateEpoch,
      pins: request.pins,
      toolVersion: options.toolVersion,
      events: options.events ?? nullSink,
      signal: options.signal,
    });
    const content = await opened.content();
    const image = await readStoredImage(content, { digest: result.manifestDigest, mediaType: 'application/vnd.oci.image.manifest.v1+json', name: label });
    const history = await opened.engine.buildHistory();
    const [record] = history.list({});
    const epoch = result.epoch?.seconds;
    const clamped = epoch === undefined ? undefined : new ClampedLayers(content.blobs.db);
    const steps = new Map<string, StepRecord>();
    for (const step of record === undefined ? [] : history.get(record.id)?.steps ?? []) {
      if (step.layer === undefined) continue;
      steps.set(step.layer.digest, step);
      // The image holds the step's layer with its times clamped to the epoch: a layer of its own.
      const layer = clamped === undefined || epoch === undefined ? undefined : clamped.get(parseDigest(step.layer.digest), epoch);
      if (layer !== undefined) {
        steps.set(layer.digest, step);
        steps.set(layer.diffId, step);
      }
    }
    return { digests: { label, ...(result.index === undefined ? {} : { index: result.index.digest }), manifest: result.manifestDigest, config: result.configDigest }, image, content, steps, epoch, engine: opened.engine };
  } catch (error) {
    opened.engine.close();
    throw error;
  }
}

/** The step that made each layer of `image`, from the build's step records (matched by layer digest). */
function stepsOf(image: StoredImage, byLayer: ReadonlyMap<string, StepRecord>, history: readonly (string | undefined)[]): (index: number) => StepSource | undefined {
  return (index) => {
    const layer = image.layers[index];
    const diffId = image.config.rootfs.diff_ids[index];
    const step = (layer === undefined ? undefined : byLayer.get(layer.digest)) ?? (diffId === undefined ? undefined : byLayer.get(diffId));
    if (step !== undefined) return { file: step.location?.file, line: step.location?.line, instruction: step.name };
    const createdBy = history[index];
    return createdBy === undefined ? undefined : { instruction: createdBy };
  };
}

function layerHistory(image: StoredImage): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (const entry of image.config.history ?? []) if (entry.empty_layer !== true) out.push(entry.created_by);
  return out;
}

async function compare(a: { digests: ImageDigests; image: StoredImage; content: Content }, b: Rebuilt, epoch: number | undefined, subject: string, options: VerifyOptions, kept: string | undefined, given: readonly string[] = []): Promise<VerifyResult> {
  const reproduced = a.digests.manifest === b.digests.manifest;
  const notes: string[] = [...given];
  if (reproduced && a.digests.index !== b.digests.index) {
    notes.push('the index digests differ only in the attestations they carry (provenance records each build\'s id and times); the images are identical');
  }
  const diff = reproduced
    ? undefined
    : await diffImages(
      { blobs: a.content.blobs, config: a.image.config, layers: a.image.layers },
      { blobs: b.content.blobs, config: b.image.config, layers: b.image.layers },
      { stepOf: stepsOf(b.image, b.steps, layerHistory(b.image)), signal: options.signal },
    );
  const used = epoch ?? b.epoch;
  return { subject, reproduced, ...(used === undefined ? {} : { epoch: used }), a: a.digests, b: b.digests, ...(diff === undefined ? {} : { diff }), notes, ...(kept === undefined ? {} : { kept }) };
}

async function workDir(deps: VerifyDeps, keepDir: string | undefined): Promise<string> {
  if (keepDir !== undefined) {
    await mkdir(keepDir, { recursive: true });
    return mkdtemp(join(resolve(keepDir), 'verify-'));
  }
  // Beside the state root: the same filesystem (overlayfs works there), private like it.
  const parent = join(deps.config.stateRoot, 'tmp');
  await mkdir(parent, { recursive: true, mode: 0o700 });
  return mkdtemp(join(parent, 'verify-'));
}

export async function verifyReproducible(deps: VerifyDeps, options: VerifyOptions): Promise<VerifyResult> {
  // For an image, everything the rebuild needs is read (and missing parts named) before any build.
  const plan = options.subject.kind === 'context' ? { request: options.subject.request, subject: options.subject.request.contextDir } : await rebuildFromProvenance(deps, options.subject, options.signal);
  const dir = await workDir(deps, options.keepDir);
  const opened: Engine[] = [];
  try {
    if (options.subject.kind === 'context') {
      const first = await rebuild(deps, join(dir, 'a'), 'build 1', plan.request, options);
      opened.push(first.engine);
      const second = await rebuild(deps, join(dir, 'b'), 'build 2', plan.request, options);
      opened.push(second.engine);
      return await compare(first, second, plan.request.sourceDateEpoch, plan.subject, options, options.keepDir === undefined ? undefined : dir);
    }
    if (!('original' in plan)) throw new Error('verify: an image plan without its original');
    const again = await rebuild(deps, join(dir, 'rebuild'), 'rebuild', plan.request, options);
    opened.push(again.engine);
    return await compare({ ...plan.original, content: await deps.content() }, again, plan.request.sourceDateEpoch, plan.subject, options, options.keepDir === undefined ? undefined : dir, plan.notes);
  } finally {
    for (const engine of opened) engine.close();
    if (options.keepDir === undefined) await rm(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ provenance → rebuild request

const provenanceSchema = z.looseObject({
  buildDefinition: z.looseObject({
    externalParameters: z.looseObject({
      configSource: z.looseObject({ path: z.string().optional(), uri: z.string().optional() }).optional(),
      request: z.looseObject({ args: z.record(z.string(), z.string()).optional() }).optional(),
    }),
    internalParameters: z.looseObject({ sourceDateEpoch: z.number().int().min(0).optional() }).optional(),
    resolvedDependencies: z.array(z.looseObject({ uri: z.string(), digest: z.record(z.string(), z.string()) })).optional(),
  }),
  runDetails: z.looseObject({
    metadata: z.looseObject({
      buildkit_completeness: z.looseObject({ request: z.boolean().optional() }).optional(),
      buildkit_metadata: z.looseObject({
        source: z.looseObject({ infos: z.array(z.looseObject({ filename: z.string().optional(), data: z.string().optional() })).optional() }).optional(),
        vcs: z.looseObject({ source: z.string().optional(), revision: z.string().optional() }).optional(),
      }).optional(),
    }).optional(),
  }).optional(),
});

type Provenance = z.infer<typeof provenanceSchema>;

/** The epoch a build recorded: stagecraft's `internalParameters.sourceDateEpoch`, else a SOURCE_DATE_EPOCH build arg. */
export function recordedEpoch(predicate: Provenance): number | undefined {
  const recorded = predicate.buildDefinition.internalParameters?.sourceDateEpoch;
  if (recorded !== undefined) return recorded;
  const arg = predicate.buildDefinition.externalParameters.request?.args?.['build-arg:SOURCE_DATE_EPOCH'];
  return arg !== undefined && /^\d+$/u.test(arg) ? Number(arg) : undefined;
}

function missing(ref: string, what: string, hint: string): StagecraftError {
  return new StagecraftError('VERIFY_INPUT', `cannot rebuild ${ref}: ${what}`, { hint });
}

async function rebuildFromProvenance(deps: VerifyDeps, subject: Extract<VerifySubject, { kind: 'image' }>, signal: AbortSignal | undefined): Promise<{ request: RebuildRequest; subject: string; notes: readonly string[]; original: { digests: ImageDigests; image: StoredImage } }> {
  const ref = subject.ref;
  const content = await deps.content();
  const local = await findImage(content, ref).catch((error: unknown) => {
    if (!(error instanceof StagecraftError) || error.code !== 'NOT_FOUND' || ref.startsWith('sha256:')) throw error;
    throw missing(ref, 'it is not in the local store', `pull it first (stagecraft pull ${ref}), then verify it`);
  });
  const image = await readStoredImage(content, local);
  const attestations = await imageAttestations(deps.deps, ref, signal);
  const parsed = provenanceSchema.safeParse(attestations.Provenance.SLSA);
  if (attestations.Provenance.SLSA === undefined) throw missing(ref, 'it has no provenance attestation', 'build it with provenance (the default for image outputs; --provenance=mode=max records everything verify needs)');
  if (!parsed.success) throw missing(ref, 'its provenance is not SLSA v1 as stagecraft writes it', 'build it with --provenance=mode=max,version=v1');
  const predicate = parsed.data;
  const args = predicate.buildDefinition.externalParameters.request?.args ?? {};
  const lacking: string[] = [];
  if (predicate.runDetails?.metadata?.buildkit_completeness?.request === false) lacking.push('the build arguments and labels (provenance mode=min leaves them out)');
  const dockerfilePath = predicate.buildDefinition.externalParameters.configSource?.path ?? 'Dockerfile';
  const source = predicate.runDetails?.metadata?.buildkit_metadata?.source?.infos?.[0]?.data;
  let text = source === undefined ? undefined : Buffer.from(source, 'base64').toString('utf8');
  const vcs = predicate.runDetails?.metadata?.buildkit_metadata?.vcs;
  if (subject.contextDir === undefined) {
    lacking.push(vcs?.source === undefined ? 'the build context (none is recorded; give its directory: stagecraft verify IMAGE CONTEXT)' : `the build context (recorded as git ${vcs.source}${vcs.revision === undefined ? '' : ` at ${vcs.revision}`}, which verify does not fetch: check it out and give its directory)`);
  } else if (text === undefined) {
    // mode=min: the Dockerfile is not in the provenance; the context's own copy stands in.
    text = await readFile(join(subject.contextDir, dockerfilePath), 'utf8').catch(() => undefined);
    if (text === undefined) lacking.push(`the Dockerfile (not in the provenance, and ${join(subject.contextDir, dockerfilePath)} does not exist)`);
  }
  if (lacking.length > 0 || text === undefined || subject.contextDir === undefined) {
    throw missing(ref, `its provenance lacks ${lacking.join('; ')}`, 'build the image with --provenance=mode=max and give the context directory');
  }
  const buildArgs = new Map<string, string>();
  const labels = new Map<string, string>();
  for (const [key, value] of Object.entries(args)) {
    if (key.startsWith('build-arg:')) buildArgs.set(key.slice('build-arg:'.length), value);
    if (key.startsWith('label:')) labels.set(key.slice('label:'.length), value);
  }
  // Base images pinned to the digests the build resolved.
  const images = new Map<string, { digest: Digest }>();
  for (const dependency of predicate.buildDefinition.resolvedDependencies ?? []) {
    const purl = parseDependencyPurl(dependency.uri);
    const sha = dependency.digest.sha256;
    if (purl === undefined || sha === undefined || purl.platform === undefined) continue;
    try {
      images.set(`${formatImageRef(parseImageRef(purl.ref))}|${purl.platform}`, { digest: parseDigest(`sha256:${sha}`) });
    } catch {
      // A dependency that names no image reference pins nothing.
    }
  }
  const platform = platformFromOci(image.config);
  // A reproducible build's config `created` is its epoch: the stand-in when the provenance records none.
  const recorded = recordedEpoch(predicate);
  const epoch = recorded ?? epochSeconds(image.config.created);
  const notes = recorded === undefined && epoch !== undefined ? [`the provenance records no epoch: the image's created time (${image.config.created ?? ''}) is used as SOURCE_DATE_EPOCH`] : [];
  return {
    subject: `${ref} (${formatPlatform(platform)})`,
    request: {
      contextDir: resolve(subject.contextDir),
      dockerfile: { path: join(resolve(subject.contextDir), dockerfilePath), text },
      buildArgs,
      labels,
      target: args.target,
      platform: platform,
      buildPlatform: subject.buildPlatform,
      sourceDateEpoch: epoch,
      pins: { images },
    },
    notes,
    original: {
      digests: { label: ref, ...(local.indexDigest === undefined ? {} : { index: local.indexDigest }), manifest: local.digest, config: image.manifest.config.digest },
      image,
    },
  };
}

/**
 * The engine's side of attestations: which filesystems an SBOM covers (the target, and stages or the
 * context that BUILDKIT_SBOM_SCAN_STAGE / _CONTEXT or `scan-stage=`/`scan-context=` enable, as
 * BuildKit's dockerfile2llb), which layer wrote a path, and the producers of the predicates.
 */
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerRecord } from '../cache/index.js';
import type { Content } from '../content/index.js';
import type { Digest } from '../core/index.js';
import { catalogFilesystem, directoryScanFs, gitSource, makeProvenance, toSpdx, withFileDigests, type SbomResult } from '../attest/index.js';
import type { ConvertResult, ConvertedStage } from '../dockerfile/index.js';
import { scanEnabledForStage, type AttestationProducers, type AttestationRequest, type SbomTarget } from '../exporter/index.js';
import type { MountedRootfs, Snapshotter } from '../snapshot/index.js';
import type { BaseImages, HttpDownloads, LayerStore } from '../ops/index.js';
import { provenanceFacts } from './provenance-facts.js';
import type { BuildOptions } from './build.js';

const SCAN_STAGE_ARG = 'BUILDKIT_SBOM_SCAN_STAGE';
const SCAN_CONTEXT_ARG = 'BUILDKIT_SBOM_SCAN_CONTEXT';

/**
 * A stage's value of a scan ARG, as BuildKit reads it: the global (meta) ARG's value, overridden by
 * the ARG declared in the stage. A `--build-arg` alone changes only declared ARGs.
 */
function stageScan(converted: ConvertResult, index: number, arg: string): boolean {
  const stage = converted.stages.get(index);
  if (stage === undefined) return false;
  let enabled = converted.graph.globalArgs.declared.has(arg) ? scanEnabledForStage(stage.name, converted.graph.globalArgs.values.get(arg)) : false;
  if (stage.buildArgs.has(arg)) enabled = scanEnabledForStage(stage.name, stage.buildArgs.get(arg));
  return enabled;
}

/** The built stages other than the target that an SBOM request scans (their roots must be solved too). */
export function scannedStages(request: AttestationRequest, converted: ConvertResult): ConvertedStage[] {
  const sbom = request.sbom;
  if (sbom === undefined) return [];
  return [...converted.stages]
    .sort(([a], [b]) => a - b)
    .filter(([index]) => index !== converted.target.index && (sbom.scanStage || stageScan(converted, index, SCAN_STAGE_ARG)))
    .map(([, stage]) => stage);
}

export interface ScanScope {
  readonly converted: ConvertResult;
  /** The layers of every solved stage root, by vertex id. */
  readonly stageLayers: (root: string) => readonly LayerRecord[] | undefined;
  readonly layers: LayerStore;
  readonly snapshotter: Snapshotter;
  /** A read-only view of the build context (for BUILDKIT_SBOM_SCAN_CONTEXT). */
  readonly contextView: (signal: AbortSignal) => Promise<MountedRootfs>;
  /** A layer's diffID as it is in the image (its times clamped to the epoch); identity when absent. */
  readonly asInImage?: ((diffId: Digest) => Digest) | undefined;
}

/**
 * What an SBOM request scans: `sbom` (the final image) first, then `sbom-<stage>` for every other built
 * stage that asks to be scanned, then `sbom-context` when the target stage (or the request) asks for it.
 * Stages that are not built are never scanned.
 */
export function sbomTargets(request: AttestationRequest, scope: ScanScope, imageLayers: readonly LayerRecord[]): SbomTarget[] {
  const sbom = request.sbom;
  if (sbom === undefined) return [];
  const { converted } = scope;
  const targets: SbomTarget[] = [layerTarget('sbom', imageLayers, scope)];
  for (const stage of scannedStages(request, converted)) {
    const layers = scope.stageLayers(stage.root);
    if (layers === undefined) continue;
    targets.push(layerTarget(`sbom-${stage.name ?? String(stage.index)}`, layers, scope));
  }
  if (sbom.scanContext || stageScan(converted, converted.target.index, SCAN_CONTEXT_ARG)) {
    targets.push({ name: 'sbom-context', rootfs: scope.contextView });
  }
  return targets;
}

/** The filesystem of `layers` as an SBOM target (with the layer that wrote each path). */
export function layerTarget(name: string, layers: readonly LayerRecord[], scope: Pick<ScanScope, 'layers' | 'snapshotter' | 'asInImage'>): SbomTarget {
  return {
    name,
    rootfs: (signal) => scope.layers.view(layers, signal),
    layerOf: layerFinder(layers, scope),
  };
}

/**
 * `layerOf(path)`: the diff ID of the topmost layer that wrote `path`, looking top-down in the layers'
 * own directories (overlay snapshots keep each layer's changes apart). A whiteout or an opaque
 * directory above hides the layers below. Each component is checked with lstat, so a symlink inside
 * a layer is never followed. Undefined when the snapshotter keeps no per-layer directories.
 */
function layerFinder(layers: readonly LayerRecord[], scope: Pick<ScanScope, 'layers' | 'snapshotter' | 'asInImage'>): (path: string) => Promise<Digest | undefined> {
  let dirs: Promise<(string | undefined)[] | undefined> | undefined;
  const layerDirs = async (): Promise<(string | undefined)[] | undefined> => {
    const out: (string | undefined)[] = [];
    let snapshot = await scope.layers.materialize(layers, AbortSignal.timeout(600_000));
    while (snapshot !== null) {
      const dir = scope.snapshotter.layerDir(snapshot);
      if (dir === undefined) return undefined;
      out.push(dir);
      snapshot = snapshot.parent;
    }
    return out.length === layers.length ? out : undefined;
  };
  return async (path) => {
    dirs ??= layerDirs();
    const found = await dirs;
    if (found === undefined) return undefined;
    const top = await topmostLayerWith(found, path);
    const diffId = top === undefined ? undefined : layers[layers.length - 1 - top]?.diffId;
    return diffId === undefined ? undefined : (scope.asInImage?.(diffId) ?? diffId);
  };
}

/**
 * Which of `dirs` (each layer's own directory, topmost first) last wrote `path`: the index of the first
 * that holds it, undefined when none does or a whiteout above hides it.
 */
export async function topmostLayerWith(dirs: readonly (string | undefined)[], path: string): Promise<number | undefined> {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..')) return undefined;
  for (const [i, dir] of dirs.entries()) {
    if (dir === undefined) continue;
    const seen = await inLayer(dir, parts);
    if (seen === 'present') return i;
    if (seen === 'hidden') return undefined;
  }
  return undefined;
}

/** Whether a layer directory holds `parts` ('present'), hides it (whiteout / opaque dir above), or says nothing of it. */
async function inLayer(dir: string, parts: readonly string[]): Promise<'present' | 'hidden' | 'absent'> {
  let current = dir;
  for (const [i, part] of parts.entries()) {
    current = join(current, part);
    const info = await lstat(current).catch(() => undefined);
    if (info === undefined) return 'absent';
    // overlayfs whiteout: a 0/0 character device.
    if (info.isCharacterDevice() && info.rdev === 0) return 'hidden';
    if (i === parts.length - 1) return 'present';
    if (!info.isDirectory()) return 'absent';
  }
  return 'absent';
}

export interface ProducerScope {
  readonly buildId: string;
  /** When the build started (ms since the epoch). */
  readonly started: number;
  readonly options: BuildOptions;
  readonly converted: ConvertResult;
  readonly content: Content;
  /** The image's names (the SBOM document of the image is named after the first). */
  readonly names: readonly string[];
  /** What the build's image names resolved to, and its ADD <url> downloads (provenance materials). */
  readonly baseImages: BaseImages;
  readonly downloads: HttpDownloads;
  /** The layers of each solved vertex (max provenance's layer map). */
  readonly vertexLayers: ReadonlyMap<string, readonly LayerRecord[]>;
  /** The build's SOURCE_DATE_EPOCH (undefined: wall-clock times). */
  readonly epoch?: { readonly seconds: number; readonly source: string } | undefined;
  /** Told each catalog the SBOM makes (the scans and the policy reuse the final image's: target `sbom`). */
  readonly onCatalog?: ((target: string, result: SbomResult) => void) | undefined;
}

/**
 * The predicate producers of a build. Provenance: attest/provenance.ts over the facts the build holds
 * (engine/provenance-facts.ts), finished when it is made, as BuildKit's. SBOM: the catalogers and the SPDX writer.
 */
export function attestationProducers(scope: ProducerScope): AttestationProducers {
  const { options, converted } = scope;
  return {
    sbom: async (input) => {
      const fs = directoryScanFs(input.root);
      // Each package's file with its digest: the SPDX document lists it as a file with its layer.
      const result = await withFileDigests(fs, await catalogFilesystem(fs, { layerOf: input.target.layerOf, warn: input.warn, signal: input.signal }), input.signal);
      scope.onCatalog?.(input.target.name, result);
      const epoch = scope.epoch?.seconds;
      return toSpdx(result, {
        name: input.target.name === 'sbom' ? (scope.names[0] ?? input.subjectDigest) : input.target.name,
        subjectDigest: input.subjectDigest,
        created: epoch === undefined ? new Date(scope.started) : new Date(epoch * 1000),
        toolVersion: scope.options.toolVersion ?? 'unknown',
      });
    },
    provenance: async (request) => makeProvenance(provenanceFacts({
      buildId: scope.buildId,
      startedOn: new Date(scope.started),
      finishedOn: new Date(),
      builderPlatform: options.buildPlatform,
      contextDir: options.contextDir,
      dockerfile: options.dockerfile,
      buildArgs: options.buildArgs,
      labels: options.labels,
      target: options.target,
      noCache: options.noCache,
      noCacheFilter: options.noCacheFilter,
      network: options.network,
      exec: options.exec,
      namedContexts: options.namedContexts,
      vertices: converted.plan.vertices,
      root: converted.target.root,
      images: scope.baseImages.resolved(),
      downloads: scope.downloads.digests(),
      layers: (id) => scope.vertexLayers.get(id),
      git: await gitSource(options.contextDir),
      sourceDateEpoch: scope.epoch,
    }), request),
  };
}

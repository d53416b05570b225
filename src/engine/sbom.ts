/**
 * `stagecraft sbom IMAGE`: the SBOM of an image of the local store — or, when the store does not
 * hold it, of the image pulled from its registry (the pull path of `stagecraft pull`). The image's
 * layers are mounted as a read-only view (the snapshots a build uses), catalogued, and each package's
 * file attributed to the layer that last wrote it.
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { catalogFilesystem, directoryScanFs, layerAttribution, withFileDigests, type SbomResult } from '../attest/index.js';
import { STATE_ROOT_LOCK, StoreLocks, type LayerRecord } from '../cache/index.js';
import type { Content, ImageReference } from '../content/index.js';
import { StagecraftError, formatPlatform, parseImageRef, type Digest, type Platform } from '../core/index.js';
import type { EventSink } from '../events/index.js';
import { readStoredImage } from '../image/index.js';
import { LayerStore } from '../ops/index.js';
import { openSnapshotter } from '../snapshot/index.js';
import { PROCESS_OWNER } from '../util/owner.js';
import { findImage, pull, type ImageDeps } from './images.js';

export interface SbomOptions {
  /** The platform to scan when the image comes from a registry (default: the engine's). */
  readonly platform?: Platform | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Where a registry pull reports its transfers. */
  readonly events?: EventSink | undefined;
  /** A file the catalogers could not read (corrupt status file, bad package.json): reported, never fatal. */
  readonly warn?: ((message: string) => void) | undefined;
}

export interface ImageSbom {
  /** The image's full name in the store. */
  readonly name: string;
  /** Its manifest digest: the SBOM's subject. */
  readonly digest: Digest;
  readonly platform: string;
  /** `local`: found in the store; `registry`: pulled for this scan. */
  readonly source: 'local' | 'registry';
  readonly result: SbomResult;
}

export interface SbomDeps extends ImageDeps {
  readonly stateRoot: string;
}

function isNotFound(error: unknown): boolean {
  return error instanceof StagecraftError && error.code === 'NOT_FOUND';
}

/** The local image, else the image pulled from the registry the reference names (the image scans share it). */
export async function resolveImage(deps: SbomDeps, content: Content, text: string, options: SbomOptions): Promise<{ ref: ImageReference; source: 'local' | 'registry' }> {
  try {
    const ref = await findImage(content, text);
    const wanted = options.platform === undefined ? undefined : formatPlatform(options.platform);
    if (wanted === undefined || ref.platform === undefined || ref.platform === wanted) return { ref, source: 'local' };
  } catch (error) {
    if (!isNotFound(error) || text.startsWith('sha256:')) throw error;
    try {
      parseImageRef(text);
    } catch {
      throw error;
    }
  }
  try {
    const pulled = await pull(deps, text, { platform: options.platform, signal: options.signal, events: options.events });
    return { ref: await findImage(content, pulled.name), source: 'registry' };
  } catch (error) {
    if (!(error instanceof StagecraftError)) throw error;
    throw new StagecraftError(error.code, `cannot scan ${JSON.stringify(text)}: it is not in the local store, and its registry: ${error.message}`, {
      hint: error.code === 'NOT_FOUND' ? 'check the name and tag (`stagecraft images` lists the local images), or build it first' : (error.hint ?? 'check the name, or the registry'),
      cause: error,
    });
  }
}

export async function sbomImage(deps: SbomDeps, text: string, options: SbomOptions = {}): Promise<ImageSbom> {
  const signal = options.signal ?? new AbortController().signal;
  const warn = options.warn ?? ((): void => undefined);
  const content = await deps.content();
  const { ref, source } = await resolveImage(deps, content, text, options);
  const stored = await readStoredImage(content, ref);
  const diffIds = stored.config.rootfs.diff_ids;
  if (diffIds.length !== stored.layers.length) {
    throw new StagecraftError('STORE_CORRUPT', `${ref.name}: the manifest has ${stored.layers.length} layers but the config lists ${diffIds.length} diff_ids`, { hint: `remove the image (stagecraft rmi ${ref.name}) and pull or build it again` });
  }
  const layers: LayerRecord[] = stored.layers.map((layer, i) => ({ diffId: diffIds[i] as Digest, digest: layer.digest, size: layer.size, mediaType: layer.mediaType }));
  // Held shared like a build's: `prune --all` never removes the snapshots while they are mounted.
  const held = await new StoreLocks(content.blobs.db).acquire(STATE_ROOT_LOCK, 'shared', signal);
  // Named by its owner, so a killed scan's directory is swept by the next build (sweepAbandoned).
  const runDir = join(deps.stateRoot, 'run', `${PROCESS_OWNER}-sbom-${randomBytes(6).toString('hex')}`);
  try {
    const store = new LayerStore({
      snapshotter: await openSnapshotter(deps.snapshotRoot),
      blobs: content.blobs,
      runDir,
      fetchBlob: (layer) => {
        throw new StagecraftError('STORE_CORRUPT', `${ref.name}: layer ${layer.digest} is missing from the store`, { hint: `remove the image (stagecraft rmi ${ref.name}) and pull or build it again` });
      },
    });
    const view = await store.view(layers, signal);
    try {
      const fs = directoryScanFs(view.path);
      const layerOf = layerAttribution(layers.map((layer) => ({ diffId: layer.diffId, open: () => content.blobs.open(layer.digest) })), signal);
      const found = await catalogFilesystem(fs, { layerOf, warn, signal });
      const result = await withFileDigests(fs, found, signal);
      return { name: ref.name, digest: ref.digest, platform: ref.platform ?? formatPlatform({ os: stored.config.os, architecture: stored.config.architecture, variant: stored.config.variant }), source, result };
    } finally {
      await view[Symbol.asyncDispose]();
    }
  } finally {
    await rm(runDir, { recursive: true, force: true });
    held.release();
  }
}

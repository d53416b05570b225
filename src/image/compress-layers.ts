/**
 * Layer compression at export. Build steps store their layers as plain tar (as BuildKit keeps layers
 * uncompressed in Docker's image store), so a local-only build pays no compression; layers are
 * compressed when they leave the machine (push, OCI/Docker archives, registry cache) or when an output
 * asks for a compression. Each conversion runs once: its result is recorded in the content store and
 * found again by the source blob and the kind ("gzip-6", "zstd-3", "none").
 */
import { PassThrough } from 'node:stream';
import { StagecraftError } from '../core/index.js';
import type { ContentStore } from '../content/index.js';
import { layerCompression, type ImageLayer } from '../oci/index.js';
import { DEFAULT_COMPRESSION_LEVEL, compressLayer, decompressLayer } from '../snapshot/index.js';

export type ExportCompression = 'gzip' | 'zstd' | 'uncompressed';

export interface ExportCompressionSpec {
  readonly compression: ExportCompression;
  readonly level?: number | undefined;
  /** Recompress layers that already have another compression (BuildKit's force-compression). */
  readonly force?: boolean | undefined;
}

/** gzip unless an output says otherwise: what a registry or archive gets by default, as in BuildKit. */
export const DEFAULT_EXPORT_COMPRESSION: ExportCompressionSpec = { compression: 'gzip' };

/** `compressForExport` of each layer, in order. */
export async function compressLayers(blobs: ContentStore, layers: readonly ImageLayer[], spec: ExportCompressionSpec, signal?: AbortSignal): Promise<ImageLayer[]> {
  const out: ImageLayer[] = [];
  for (const layer of layers) out.push(await compressForExport(blobs, layer, spec, signal));
  return out;
}

/**
 * The layer as `spec` wants it: a plain tar layer compressed; a layer compressed another way kept
 * (recompressed only with `force`). A converted layer gets the OCI media type; image assembly maps it
 * to Docker's where needed.
 */
export async function compressForExport(blobs: ContentStore, layer: ImageLayer, spec: ExportCompressionSpec, signal?: AbortSignal): Promise<ImageLayer> {
  const current = layerCompression(layer.mediaType);
  if (current === undefined) return layer;
  const wanted = spec.compression === 'uncompressed' ? 'none' : spec.compression;
  if (current === wanted) return layer;
  if (current !== 'none' && spec.force !== true) return layer;
  const level = wanted === 'none' ? undefined : (spec.level ?? DEFAULT_COMPRESSION_LEVEL[wanted]);
  const kind = level === undefined ? wanted : `${wanted}-${level}`;
  const known = await blobs.conversion(layer.digest, kind);
  if (known !== undefined) return { diffId: layer.diffId, ...known };
  // A damaged source blob fails as STORE_CORRUPT naming it (not as zlib's "incorrect data check").
  const [result, info] = await blobs.reading(layer.digest, async () => {
    const { tar } = await decompressLayer(await blobs.open(layer.digest));
    const pass = new PassThrough();
    return Promise.all([
      compressLayer(tar, pass, { algorithm: wanted, level, signal }),
      blobs.ingest(pass, { signal }),
    ]);
  });
  if (result.diffId !== layer.diffId) {
    throw new StagecraftError('STORE_CORRUPT', `layer ${layer.digest} unpacks to ${result.diffId}, but its image says ${layer.diffId}`, {
      hint: 'the stored layer is damaged: run `stagecraft prune --all` and build again',
    });
  }
  const converted = { digest: info.digest, size: info.size, mediaType: result.mediaType };
  blobs.recordConversion(layer.digest, kind, converted);
  return { diffId: layer.diffId, ...converted };
}

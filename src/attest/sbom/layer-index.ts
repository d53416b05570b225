/**
 * Which layer last wrote a path: the image's layer tars read once, bottom to top (headers only; the
 * bodies are skipped), applying whiteouts as the unpacker does (`.wh.<name>` removes the name and
 * what is under it, `.wh..wh..opq` empties a directory of what lower layers put there). Independent of
 * the snapshotter, so it also works where snapshots are full copies.
 */
import { posix } from 'node:path';
import type { Digest } from '../../core/index.js';
import { OPAQUE_WHITEOUT, WHITEOUT_PREFIX, decompressLayer, readTar } from '../../snapshot/index.js';

export interface LayerSource {
  /** The layer's diffID (sha256 of its uncompressed tar), the value reported for its paths. */
  readonly diffId: Digest;
  /** The layer blob (plain, gzip or zstd tar). */
  open(): Promise<AsyncIterable<Uint8Array>>;
}

/** `./usr/bin/` → `/usr/bin`; undefined for the root itself or a name that leaves it. */
function normalise(name: string): string | undefined {
  const path = posix.normalize(`/${name}`).replace(/\/+$/u, '');
  return path === '' || path.startsWith('/..') ? undefined : path;
}

function removeTree(index: Map<string, number>, dir: string, keepDir: boolean): void {
  if (!keepDir) index.delete(dir);
  const prefix = `${dir}/`;
  for (const path of [...index.keys()]) {
    if (path.startsWith(prefix)) index.delete(path);
  }
}

/** path → the position (in `layers`) of the layer that last wrote it. */
export async function buildLayerIndex(layers: readonly LayerSource[], signal: AbortSignal): Promise<Map<string, number>> {
  const index = new Map<string, number>();
  for (const [position, layer] of layers.entries()) {
    signal.throwIfAborted();
    const { tar } = await decompressLayer(await layer.open());
    try {
      for await (const entry of readTar(tar)) {
        signal.throwIfAborted();
        const path = normalise(entry.header.name);
        if (path === undefined) continue;
        const base = posix.basename(path);
        const dir = posix.dirname(path);
        if (base === OPAQUE_WHITEOUT) {
          removeTree(index, dir, true);
        } else if (base.startsWith(WHITEOUT_PREFIX)) {
          removeTree(index, posix.join(dir, base.slice(WHITEOUT_PREFIX.length)), false);
        } else {
          index.set(path, position);
        }
      }
    } finally {
      tar.destroy();
    }
  }
  return index;
}

/**
 * A `layerOf` for `catalogFilesystem`: the diffID of the layer that last wrote `path`. The layers
 * are read on the first call only (a scan that finds nothing reads none).
 */
export function layerAttribution(layers: readonly LayerSource[], signal: AbortSignal): (path: string) => Promise<Digest | undefined> {
  let index: Promise<Map<string, number>> | undefined;
  return async (path) => {
    index ??= buildLayerIndex(layers, signal);
    const position = (await index).get(normalise(path) ?? '');
    return position === undefined ? undefined : layers[position]?.diffId;
  };
}

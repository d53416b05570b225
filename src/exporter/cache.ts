/**
 * `--cache-to`: the solve's cache records (the target's for mode=min, every step's for max) to a
 * registry or directory; `type=inline` records were written into the image config at assembly.
 * `ignore-error=true` turns a failed export into a warning, as in buildx.
 */
import { exportCacheTo, type CacheExportSpec } from '../cache/index.js';
import { DEFAULT_EXPORT_COMPRESSION, compressLayers } from '../image/index.js';
import type { ImageLayer } from '../oci/index.js';
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';

export class CacheExporter implements Exporter {
  get name(): string {
    return `exporting cache to ${this.spec.location.type}`;
  }
  constructor(private readonly spec: CacheExportSpec) {}

  async export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    const { spec } = this;
    const { target, all } = image.cacheKeys;
    const keys = spec.mode === 'max' ? all : target === undefined ? [] : [target];
    // Cache layers leave the machine: compressed as an image's would be.
    const exportLayers = (plain: readonly ImageLayer[], signal: AbortSignal | undefined): Promise<ImageLayer[]> => compressLayers(ctx.content.blobs, plain, DEFAULT_EXPORT_COMPRESSION, signal);
    const line = await exportCacheTo({ content: ctx.content, registry: ctx.registry, records: ctx.records, resolveLayers: ctx.resolveLayers, exportLayers, exportLinks: image.cacheKeys.links }, spec, keys, image.inlineCacheRecords, ctx.warn, ctx.signal);
    return line === undefined ? [] : [line];
  }
}

/** `--cache-to`: the solve's cache records (the target's for mode=min, every step's for max) to a registry or directory. */
import { exportCache, type CacheExportSpec } from '../cache/index.js';
import { DEFAULT_EXPORT_COMPRESSION, compressLayers, type AssembleLayer } from '../image/index.js';
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';

export class CacheExporter implements Exporter {
  constructor(private readonly spec: CacheExportSpec) {}

  async export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    const { spec } = this;
    const { target, all } = image.cacheKeys;
    const keys = spec.mode === 'max' ? all : target === undefined ? [] : [target];
    // Cache layers leave the machine: compressed as an image's would be.
    const exportLayers = (plain: readonly AssembleLayer[], signal: AbortSignal | undefined): Promise<AssembleLayer[]> => compressLayers(ctx.content.blobs, plain, DEFAULT_EXPORT_COMPRESSION, signal);
    const count = await exportCache({ content: ctx.content, registry: ctx.registry, records: ctx.records, exportLayers }, spec, keys, ctx.signal);
    return [`cache (${spec.mode}, ${count} records) to ${spec.location.type === 'registry' ? spec.location.ref : spec.location.dir}`];
  }
}

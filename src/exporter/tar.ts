/**
 * `-o type=tar,dest=FILE|-`: the final stage's files as one tar, packed from its snapshot (mounted
 * read-only) with the layer conventions (sorted, numeric owners, whole-second mtimes clamped to
 * SOURCE_DATE_EPOCH). Device nodes are left out, as the local output never creates them.
 */
import { packItems, walkTree, writeTar, type LayerItem } from '../snapshot/index.js';
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';
import { outputTarget, writeOutput } from './write.js';

async function* withoutDevices(root: string, signal: AbortSignal): AsyncGenerator<LayerItem> {
  for await (const entry of walkTree(root, '', signal)) {
    if (entry.stat.isCharacterDevice() || entry.stat.isBlockDevice()) continue;
    yield { kind: 'path', ...entry };
  }
}

export class TarExporter implements Exporter {
  constructor(private readonly dest: string) {}

  async export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    const target = outputTarget(this.dest, ctx.stdout);
    const rootfs = await image.rootfs(ctx.signal);
    let outcome;
    try {
      const tar = writeTar(packItems(withoutDevices(rootfs.path, ctx.signal), { sourceDateEpoch: ctx.sourceDateEpoch, signal: ctx.signal }), ctx.signal);
      outcome = await writeOutput(tar, target, ctx.signal);
    } finally {
      await rootfs[Symbol.asyncDispose]();
    }
    return [`tar ${this.dest}${outcome === 'closed' ? ' (the reader closed the pipe early)' : ''}`];
  }
}

/**
 * `-o type=tar,dest=FILE|-`: the final stage's files as one tar, packed from its snapshot (mounted
 * read-only) with the layer conventions (sorted, numeric owners, whole-second mtimes). With the
 * build's SOURCE_DATE_EPOCH every entry's mtime IS the epoch (set, not clamped, as BuildKit's tar
 * output). Device nodes are left out, as the local output never creates them. Attestation
 * files (explicit --sbom/--provenance) follow at the root (attest-files.ts), replacing a same-named file.
 */
import { makeHeader, packItems, walkTree, writeTar, type LayerItem, type TarWriteEntry } from '../snapshot/index.js';
import { attestationFiles } from './attest-files.js';
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';
import { outputTarget, writeOutput } from './write.js';

async function* withoutDevices(root: string, skip: ReadonlySet<string>, signal: AbortSignal): AsyncGenerator<LayerItem> {
  for await (const entry of walkTree(root, '', signal)) {
    if (entry.stat.isCharacterDevice() || entry.stat.isBlockDevice() || skip.has(entry.path)) continue;
    yield { kind: 'path', ...entry };
  }
}

export class TarExporter implements Exporter {
  readonly name = 'exporting to client tarball';
  constructor(private readonly dest: string) {}

  async export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    const target = outputTarget(this.dest, ctx.stdout);
    const rootfs = await image.rootfs(ctx.signal);
    let outcome;
    try {
      const files = await attestationFiles(image.attestations, rootfs.path, ctx.signal);
      const mtime = ctx.sourceDateEpoch ?? 0;
      const entries = async function* (signal: AbortSignal): AsyncGenerator<TarWriteEntry> {
        const epoch = ctx.sourceDateEpoch;
        for await (const entry of packItems(withoutDevices(rootfs.path, new Set(files.map((f) => f.name)), signal), { signal })) {
          yield epoch === undefined ? entry : { ...entry, header: { ...entry.header, mtime: epoch } };
        }
        for (const file of files) yield { header: makeHeader({ type: 'file', name: file.name, size: file.bytes.length, mode: 0o600, mtime }), body: () => [file.bytes] };
      };
      const tar = writeTar(entries(ctx.signal), ctx.signal);
      outcome = await writeOutput(tar, target, ctx.signal);
    } finally {
      await rootfs[Symbol.asyncDispose]();
    }
    return [`tar ${this.dest}${outcome === 'closed' ? ' (the reader closed the pipe early)' : ''}`];
  }
}

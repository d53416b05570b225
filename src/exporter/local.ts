/**
 * `-o type=local,dest=DIR`: the final stage's files, copied from its snapshot (mounted read-only)
 * into DIR, which is created if needed and merged into if it exists (as buildx). The copy has the
 * semantics of extracting the image's layers there: owners (when root), modes with setuid bits,
 * xattrs, mtimes and hardlinks kept (with the build's SOURCE_DATE_EPOCH, every mtime written is the
 * epoch: set, not clamped, as BuildKit's local output); device nodes never created; whiteouts never appear (the snapshot
 * has none: a file deleted by a later layer is simply not there). Attestations that apply to files
 * (explicit --sbom/--provenance) are written at its root (attest-files.ts).
 */
import { lutimes, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.js';
import { attestationFiles } from './attest-files.js';
import { applyTree, walkTree } from '../snapshot/index.js';
import { currentUserNamespace } from '../util/userns.js';
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';

export class LocalExporter implements Exporter {
  readonly name = 'exporting to client directory';
  constructor(private readonly dest: string) {}

  async export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    await mkdir(this.dest, { recursive: true });
    const rootfs = await image.rootfs(ctx.signal);
    try {
      // Rootless, the files stay the user's: the image's owners would be subordinate ids on the host.
      await applyTree(this.dest, rootfs.path, { whiteouts: 'delete', ...(currentUserNamespace() === undefined ? {} : { chown: false }), signal: ctx.signal });
      const files = await attestationFiles(image.attestations, rootfs.path, ctx.signal);
      for (const file of files) await writeFileAtomic(join(this.dest, file.name), file.bytes, 0o600);
      const epoch = ctx.sourceDateEpoch;
      if (epoch !== undefined) {
        // Only what the build wrote: other files already in DIR keep their times. Setting a file's
        // time does not change its directory's, so the order does not matter.
        for await (const entry of walkTree(rootfs.path, '', ctx.signal)) {
          if (entry.stat.isCharacterDevice() || entry.stat.isBlockDevice() || entry.stat.isSocket()) continue;
          await lutimes(join(this.dest, entry.path), epoch, epoch).catch((error: NodeJS.ErrnoException) => {
            if (error.code !== 'ENOENT') throw error; // not written (a kind the local output skips)
          });
        }
        for (const file of files) await lutimes(join(this.dest, file.name), epoch, epoch);
      }
    } finally {
      await rootfs[Symbol.asyncDispose]();
    }
    return [`local ${this.dest}`];
  }
}

/**
 * The archive exporters: `-o type=oci|docker,dest=FILE|-` (an OCI layout tar or `docker save` tar), and
 * `tar=false,dest=DIR` (the OCI image layout as a directory, added to one that exists, as buildx).
 */
import { writeDockerArchive, writeOciArchive, writeOciLayoutDir } from '../image/index.js';
import { loadIntoDockerDaemon } from './daemon.js';
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';
import { outputTarget, writeOutput } from './write.js';

export class ArchiveExporter implements Exporter {
  /** `names`: the output's own `name=` (normalised); empty: the image's names. */
  constructor(
    private readonly format: 'oci' | 'docker',
    private readonly names: readonly string[],
    /** undefined: load into the Docker daemon (`--load`, `type=docker` without dest). */
    private readonly dest: string | undefined,
    private readonly tar = true,
  ) {}

  get name(): string {
    return `exporting to ${this.format} image format`;
  }

  async export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    const names = this.names.length > 0 ? this.names : image.names;
    // OCI: the index with the attestations (as BuildKit's oci exporter); a docker archive lists the
    // image manifest alone (BuildKit's docker exporter keeps only the platform's manifest).
    const saved = { names, descriptor: this.format === 'oci' && image.index !== undefined ? image.index : image.descriptor };
    // A fresh archive stream per call: the shape a Docker daemon load takes too (`() => stream`).
    const archive = (): AsyncIterable<Buffer> => this.format === 'oci'
      ? writeOciArchive(ctx.content, [saved], { signal: ctx.signal })
      : writeDockerArchive(ctx.content, [saved], { signal: ctx.signal });
    if (this.dest === undefined) {
      const { loaded } = await loadIntoDockerDaemon(archive, { socketPath: ctx.dockerSocket, signal: ctx.signal });
      return [`loaded into the Docker daemon: ${loaded.length > 0 ? loaded.join(', ') : image.descriptor.digest}`];
    }
    if (!this.tar) {
      // e.g. for --build-context NAME=oci-layout://DIR; stdout was refused when the exporters were resolved.
      await writeOciLayoutDir(ctx.content, [saved], this.dest, { signal: ctx.signal });
      return [`${this.format} layout ${this.dest}`];
    }
    const outcome = await writeOutput(archive(), outputTarget(this.dest, ctx.stdout), ctx.signal);
    return [`${this.format} archive ${this.dest}${outcome === 'closed' ? ' (the reader closed the pipe early)' : ''}`];
  }
}

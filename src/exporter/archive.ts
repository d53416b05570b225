/** The archive exporters: `-o type=oci|docker,dest=FILE|-` (an OCI layout tar or `docker save` tar). */
import { writeDockerArchive, writeOciArchive } from '../image/index.js';
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';
import { outputTarget, writeOutput } from './write.js';

export class ArchiveExporter implements Exporter {
  /** `names`: the output's own `name=` (normalised); empty: the image's names. */
  constructor(
    private readonly format: 'oci' | 'docker',
    private readonly names: readonly string[],
    private readonly dest: string,
  ) {}

  async export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    const saved = { names: this.names.length > 0 ? this.names : image.names, descriptor: image.descriptor };
    // A fresh archive stream per call: the shape a Docker daemon load takes too (`() => stream`).
    const archive = (): AsyncIterable<Buffer> => this.format === 'oci'
      ? writeOciArchive(ctx.content, [saved], { signal: ctx.signal })
      : writeDockerArchive(ctx.content, [saved], { signal: ctx.signal });
    const outcome = await writeOutput(archive(), outputTarget(this.dest, ctx.stdout), ctx.signal);
    return [`${this.format} archive ${this.dest}${outcome === 'closed' ? ' (the reader closed the pipe early)' : ''}`];
  }
}

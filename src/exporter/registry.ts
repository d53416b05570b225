/** The registry exporter: `--push`, `-o type=registry` and `-o type=image,push=true` push names of the store. */
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';

export class RegistryExporter implements Exporter {
  readonly name = 'pushing layers';
  /** `names` are already in the store (the image exporter runs first). */
  constructor(private readonly names: readonly string[]) {}

  async export(_image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    const done: string[] = [];
    for (const name of this.names) {
      await ctx.push(name, ctx.signal);
      done.push(`pushed ${name}`);
    }
    return done;
  }
}

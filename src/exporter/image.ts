/** The image exporter: names the stored image in the local store (`-t`, `-o type=image,name=…`). */
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';

export class ImageExporter implements Exporter {
  constructor(private readonly names: readonly string[]) {}

  export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    for (const name of this.names) ctx.content.references.set(name, { ...image.descriptor, platform: image.platform });
    return Promise.resolve([]);
  }
}

/**
 * The image exporter: names the stored image in the local store (`-t`, `-o type=image,name=…`). With
 * attestations, a name points to the image manifest and records the index that holds it and its
 * attestation manifest (`indexDigest`), as a pulled multi-platform image does: readers of the image
 * (run, FROM, history, save) read the manifest; push, `-o type=oci` and the layout's index.json use the index.
 */
import type { BuiltImage, ExportContext, Exporter } from './exporter.js';

export class ImageExporter implements Exporter {
  readonly name = 'exporting to image';
  constructor(private readonly names: readonly string[]) {}

  export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]> {
    for (const name of this.names) ctx.content.references.set(name, { ...image.descriptor, platform: image.platform, indexDigest: image.index?.digest });
    return Promise.resolve([]);
  }
}

/** An image read back from the content store: its manifest, config and layer descriptors. */
import { StagecraftError, type Digest } from '../core/index.js';
import type { Content, ImageReference } from '../content/index.js';
import { parseImageConfig, parseManifest, type Descriptor, type ImageConfig, type ImageManifest } from '../oci/index.js';

export interface StoredImage {
  /** The manifest's digest, size and media type. */
  readonly manifestDescriptor: Descriptor;
  readonly manifestBytes: Uint8Array;
  readonly manifest: ImageManifest;
  readonly configBytes: Uint8Array;
  readonly config: ImageConfig;
  readonly layers: readonly Descriptor[];
}

/**
 * Reads and validates the image a reference (or a bare manifest digest) points to. Fails with
 * STORE_CORRUPT when the stored manifest or config is missing or damaged.
 */
export async function readStoredImage(content: Content, target: Pick<ImageReference, 'digest' | 'mediaType'> & { readonly name?: string }): Promise<StoredImage> {
  const what = target.name ?? target.digest;
  const manifestBytes = await readBlob(content, target.digest, `manifest of ${what}`);
  const parsed = parseManifest(manifestBytes, target.mediaType, { source: `the content store (${what})` });
  if (parsed.kind !== 'manifest') {
    throw new StagecraftError('UNSUPPORTED_MEDIA_TYPE', `${what} names an index (${parsed.mediaType}), not a single image`, {
      hint: 'pull or load a single platform of the image (--platform)',
    });
  }
  const configBytes = await readBlob(content, parsed.manifest.config.digest, `config of ${what}`);
  const config = parseImageConfig(configBytes, { source: `the content store (${what})` });
  if (config.rootfs.diff_ids.length !== parsed.manifest.layers.length) {
    throw new StagecraftError('STORE_CORRUPT', `image ${what} has ${parsed.manifest.layers.length} layers but its config lists ${config.rootfs.diff_ids.length} diff_ids`, {
      hint: 'remove the image (stagecraft rmi) and pull or load it again',
    });
  }
  return {
    manifestDescriptor: { mediaType: parsed.mediaType, digest: parsed.digest, size: parsed.size },
    manifestBytes,
    manifest: parsed.manifest,
    configBytes,
    config,
    layers: parsed.manifest.layers,
  };
}

async function readBlob(content: Content, digest: Digest, what: string): Promise<Buffer> {
  try {
    return await content.blobs.read(digest);
  } catch (error) {
    if (error instanceof StagecraftError && error.code === 'NOT_FOUND') {
      throw new StagecraftError('STORE_CORRUPT', `the ${what} (${digest}) is missing from the content store`, {
        hint: 'remove the image (stagecraft rmi) and pull or load it again',
        cause: error,
      });
    }
    throw error;
  }
}

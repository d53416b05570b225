/**
 * The image index of a multi-platform build: every platform's image manifest (with its platform), and
 * after each the attestation manifest that refers to it, as BuildKit writes a multi-platform result
 * (attestation-storage.md). The index is what the names point to, what `--push` puts under the tag and
 * what `-o type=oci` writes; each platform's manifest is also pushed by digest.
 */
import type { Content } from '../content/index.js';
import { sha256Digest, type Digest } from '../core/index.js';
import { MEDIA_TYPES, parseManifest, platformToOci, type Descriptor } from '../oci/index.js';
import type { Platform } from '../core/index.js';

/** One platform's stored image: its manifest, and the index holding it with its attestations when it has some. */
export interface PlatformImage {
  readonly platform: Platform;
  readonly manifest: { readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly annotations?: Readonly<Record<string, string>> | undefined };
  readonly index?: { readonly digest: Digest } | undefined;
}

/**
 * Writes the index of `images` (in their order) into the content store and returns its descriptor.
 * `docker`: a Docker manifest list (oci-mediatypes=false), else an OCI index. Deterministic: the same
 * manifests in the same order give the same bytes.
 */
export async function storePlatformIndex(content: Content, images: readonly PlatformImage[], options: { readonly docker: boolean; readonly signal?: AbortSignal | undefined }): Promise<{ readonly mediaType: string; readonly digest: Digest; readonly size: number }> {
  const manifests: Descriptor[] = [];
  for (const image of images) {
    if (image.index === undefined) {
      manifests.push({ mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, ...(image.manifest.annotations === undefined ? {} : { annotations: { ...image.manifest.annotations } }), platform: platformToOci(image.platform) });
      continue;
    }
    // The platform's own index (written by this build): its image entry and the attestation manifests.
    const parsed = parseManifest(await content.blobs.read(image.index.digest), undefined, { source: `the index of ${image.manifest.digest}` });
    if (parsed.kind !== 'index') throw new Error(`platform index ${image.index.digest} is not an index`);
    manifests.push(...parsed.index.manifests);
  }
  const mediaType = options.docker ? MEDIA_TYPES.dockerManifestList : MEDIA_TYPES.ociIndex;
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests }));
  const digest = sha256Digest(bytes);
  await content.blobs.put(bytes, { digest, signal: options.signal });
  return { mediaType, digest, size: bytes.length };
}

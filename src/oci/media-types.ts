/** Media types of the OCI image spec (v1.1) and Docker's image manifest v2 schema 2. */
export const MEDIA_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayout: 'application/vnd.oci.layout.header.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1Manifest: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1SignedManifest: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

export type KnownMediaType = (typeof MEDIA_TYPES)[keyof typeof MEDIA_TYPES];

export type ImageManifestMediaType = typeof MEDIA_TYPES.ociManifest | typeof MEDIA_TYPES.dockerManifest;
export type ImageIndexMediaType = typeof MEDIA_TYPES.ociIndex | typeof MEDIA_TYPES.dockerManifestList;
export type ManifestMediaType = ImageManifestMediaType | ImageIndexMediaType;

/** The manifest types stagecraft reads, in preference order: the `Accept` header of a manifest GET. */
export const MANIFEST_MEDIA_TYPES: readonly ManifestMediaType[] = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
];

export function isImageManifestMediaType(mediaType: string): mediaType is ImageManifestMediaType {
  return mediaType === MEDIA_TYPES.ociManifest || mediaType === MEDIA_TYPES.dockerManifest;
}

export function isImageIndexMediaType(mediaType: string): mediaType is ImageIndexMediaType {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerManifestList;
}

export function isManifestMediaType(mediaType: string): mediaType is ManifestMediaType {
  return isImageManifestMediaType(mediaType) || isImageIndexMediaType(mediaType);
}

export function isSchema1MediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPES.dockerSchema1Manifest || mediaType === MEDIA_TYPES.dockerSchema1SignedManifest;
}

/** Layer compression, from a layer media type; undefined for a media type that is not a layer. */
export function layerCompression(mediaType: string): 'none' | 'gzip' | 'zstd' | undefined {
  switch (mediaType) {
    case MEDIA_TYPES.ociLayer:
    case MEDIA_TYPES.ociLayerNondistributable:
    case MEDIA_TYPES.dockerLayer:
      return 'none';
    case MEDIA_TYPES.ociLayerGzip:
    case MEDIA_TYPES.ociLayerNondistributableGzip:
    case MEDIA_TYPES.dockerLayerGzip:
    case MEDIA_TYPES.dockerForeignLayerGzip:
      return 'gzip';
    case MEDIA_TYPES.ociLayerZstd:
    case MEDIA_TYPES.ociLayerNondistributableZstd:
      return 'zstd';
    default:
      return undefined;
  }
}

/** `application/json; charset=utf-8` → `application/json` (Content-Type headers carry parameters). */
export function stripMediaTypeParameters(value: string): string {
  const semi = value.indexOf(';');
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/**
 * Image assembly: the built stage's config and history plus its layers → an image config and an OCI
 * (or Docker) manifest, serialised with the field order of Go's encoding/json on BuildKit's structs,
 * so equal inputs give the same bytes as BuildKit where the content is the same.
 */
import { sha256Digest, type Digest } from '../core/index.js';
import { MEDIA_TYPES, type ContainerConfig, type History, type ImageLayer } from '../oci/index.js';

/** The oci `ImageLayer` (kept as a name until engine/build.ts, rewritten by the exporter seam, imports ImageLayer). */
export type AssembleLayer = ImageLayer;

export interface AssembleInput {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string | undefined;
  readonly author?: string | undefined;
  /** Only the fields Docker's container config defines are written (others, e.g. a base's Hostname, are dropped). */
  readonly config: Readonly<ContainerConfig>;
  /** Only the fields of a history entry the image spec defines are written. */
  readonly history: readonly Readonly<History>[];
  readonly layers: readonly ImageLayer[];
  /** RFC 3339 time for `created` and history entries without one (SOURCE_DATE_EPOCH or now). */
  readonly created: string;
  /** Docker media types instead of OCI ones. */
  readonly docker?: boolean | undefined;
  /** `annotations` of the manifest (`--annotation manifest:KEY=VALUE`); none when empty. */
  readonly annotations?: Readonly<Record<string, string>> | undefined;
  /** The inline build cache (`--cache-to type=inline`): the base64 value of `moby.buildkit.cache.v0`. */
  readonly inlineCache?: string | undefined;
}

/** `--annotation`s of a single-platform image: in its manifest, and on descriptors that point to it. */
export interface ImageAnnotations {
  readonly manifest: Readonly<Record<string, string>>;
  readonly manifestDescriptor: Readonly<Record<string, string>>;
}

export interface AssembledImage {
  readonly config: Buffer;
  readonly configDigest: Digest;
  readonly manifest: Buffer;
  readonly manifestDigest: Digest;
  readonly manifestMediaType: string;
}

/** Go's omitempty: drop undefined, empty strings, empty arrays/maps and false. */
function omitEmpty(entries: [string, unknown][]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of entries) {
    if (value === undefined || value === '' || value === false) continue;
    if (Array.isArray(value) && value.length === 0) continue;
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) continue;
    out[key] = value;
  }
  return out;
}

function sortedMap<T>(map: Readonly<Record<string, T>> | undefined): Record<string, T> | undefined {
  if (map === undefined) return undefined;
  return Object.fromEntries(Object.keys(map).sort().map((k) => [k, map[k] as T]));
}

/** A Go `map[string]struct{}` (ExposedPorts, Volumes): sorted keys, each value `{}` whatever a base image had there. */
function sortedSet(map: Readonly<Record<string, unknown>> | undefined): Record<string, Record<string, never>> | undefined {
  if (map === undefined) return undefined;
  return Object.fromEntries(Object.keys(map).sort().map((k) => [k, {}]));
}

/** BuildKit's history fix-up: history and layers stay one-to-one; missing times get `created`. */
function normalizeHistory(history: readonly Readonly<History>[], layerCount: number, created: string): Readonly<History>[] {
  let withLayer = history.filter((h) => h.empty_layer !== true).length;
  let out = [...history];
  if (withLayer > layerCount) {
    let seen = 0;
    out = out.map((h) => {
      if (h.empty_layer === true) return h;
      seen++;
      return seen > layerCount ? { ...h, empty_layer: true } : h;
    });
    withLayer = layerCount;
  }
  for (; withLayer < layerCount; withLayer++) out.push({ created, created_by: '', comment: 'buildkit.exporter.image.v0' });
  return out.map((h) => (h.created === undefined ? { ...h, created } : h));
}

export function assembleImage(input: AssembleInput): AssembledImage {
  const c = input.config;
  const config = omitEmpty([
    ['User', c.User],
    ['ExposedPorts', sortedSet(c.ExposedPorts)],
    ['Env', c.Env],
    ['Entrypoint', c.Entrypoint],
    ['Cmd', c.Cmd],
    ['Volumes', sortedSet(c.Volumes)],
    ['WorkingDir', c.WorkingDir],
    ['Labels', sortedMap(c.Labels)],
    ['StopSignal', c.StopSignal],
    ['ArgsEscaped', c.ArgsEscaped],
    ['Healthcheck', c.Healthcheck],
    ['OnBuild', c.OnBuild],
    ['Shell', c.Shell],
  ]);
  const history = normalizeHistory(input.history, input.layers.length, input.created).map((h) =>
    omitEmpty([['created', h.created], ['created_by', h.created_by], ['author', h.author], ['comment', h.comment], ['empty_layer', h.empty_layer]]),
  );
  const image = {
    created: input.created,
    ...(input.author !== undefined && input.author !== '' ? { author: input.author } : {}),
    architecture: input.architecture,
    os: input.os,
    ...(input.variant !== undefined && input.variant !== '' ? { variant: input.variant } : {}),
    config,
    rootfs: { type: 'layers', diff_ids: input.layers.map((l) => l.diffId) },
    history,
    ...(input.inlineCache !== undefined ? { 'moby.buildkit.cache.v0': input.inlineCache } : {}),
  };
  const configBytes = Buffer.from(JSON.stringify(image));
  const configDigest = sha256Digest(configBytes);
  const docker = input.docker === true;
  const manifestMediaType = docker ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest;
  const manifest = {
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: { mediaType: docker ? MEDIA_TYPES.dockerConfig : MEDIA_TYPES.ociConfig, digest: configDigest, size: configBytes.length },
    layers: input.layers.map((l) => ({ mediaType: docker ? dockerLayerType(l.mediaType) : l.mediaType, digest: l.digest, size: l.size })),
    // Go's ocispec.Manifest field order: annotations after layers (and subject); sorted as encoding/json sorts map keys.
    ...(input.annotations !== undefined && Object.keys(input.annotations).length > 0 ? { annotations: sortedMap(input.annotations) } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return { config: configBytes, configDigest, manifest: manifestBytes, manifestDigest: sha256Digest(manifestBytes), manifestMediaType };
}

/**
 * A stored manifest with its layer descriptors replaced (same count and order, e.g. after compressing
 * them for a push). Other fields and each descriptor's other keys are kept in their order.
 */
export function replaceManifestLayers(manifestBytes: Uint8Array, layers: readonly ImageLayer[]): { readonly bytes: Buffer; readonly digest: Digest } {
  const manifest = JSON.parse(Buffer.from(manifestBytes).toString('utf8')) as { mediaType?: unknown; layers?: unknown };
  const old = Array.isArray(manifest.layers) ? (manifest.layers as unknown[]) : [];
  if (old.length !== layers.length) throw new Error(`replaceManifestLayers: ${layers.length} layers for a manifest of ${old.length}`);
  const docker = manifest.mediaType === MEDIA_TYPES.dockerManifest;
  manifest.layers = layers.map((layer, i) => {
    const before = old[i];
    const rest = typeof before === 'object' && before !== null ? before : {};
    return { ...rest, mediaType: docker ? dockerLayerType(layer.mediaType) : layer.mediaType, digest: layer.digest, size: layer.size };
  });
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { bytes, digest: sha256Digest(bytes) };
}

function dockerLayerType(mediaType: string): string {
  if (mediaType === MEDIA_TYPES.ociLayerGzip) return MEDIA_TYPES.dockerLayerGzip;
  if (mediaType === MEDIA_TYPES.ociLayer) return MEDIA_TYPES.dockerLayer;
  return mediaType;
}

/** RFC 3339 with second precision and `Z`, as Go formats a UTC time with whole seconds. */
export function rfc3339(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

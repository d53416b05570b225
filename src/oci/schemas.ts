/**
 * Zod schemas for the OCI image spec (manifest, index, config, descriptor; v1.1) and Docker's image
 * manifest v2 schema 2 and manifest list. Types are inferred from the schemas. Manifests drop unknown
 * fields (their bytes are kept elsewhere); the image config keeps them (`looseObject`), because
 * Docker configs carry extra fields (container_config, docker_version, …) that a derived image keeps.
 */
import { z } from 'zod';
import { isDigest, type Digest } from '../core/index.js';
import { MEDIA_TYPES } from './media-types.js';

export const digestSchema = z.custom<Digest>((value) => typeof value === 'string' && isDigest(value), {
  message: 'expected a digest "sha256:<64 lower-case hex digits>"',
});

const annotationsSchema = z.record(z.string(), z.string());

/** Docker writes `null` for empty lists and maps; read it as absent. */
function nullish<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((value) => value ?? undefined).optional();
}

/** The `platform` object of an index entry, spelled as in the spec (`os.version`, `os.features`). */
export const ociPlatformSchema = z.object({
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  features: z.array(z.string()).optional(),
});
export type OciPlatform = z.infer<typeof ociPlatformSchema>;

export const descriptorSchema = z.object({
  mediaType: z.string().min(1),
  digest: digestSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotationsSchema.optional(),
  data: z.string().optional(),
  platform: ociPlatformSchema.optional(),
  artifactType: z.string().optional(),
});
export type Descriptor = z.infer<typeof descriptorSchema>;

export const ociManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA_TYPES.ociManifest).optional(),
  artifactType: z.string().optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotationsSchema.optional(),
});
export type OciManifest = z.infer<typeof ociManifestSchema>;

export const dockerManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA_TYPES.dockerManifest),
  config: descriptorSchema,
  layers: z.array(descriptorSchema),
});
export type DockerManifest = z.infer<typeof dockerManifestSchema>;

export const ociIndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA_TYPES.ociIndex).optional(),
  artifactType: z.string().optional(),
  manifests: z.array(descriptorSchema),
  subject: descriptorSchema.optional(),
  annotations: annotationsSchema.optional(),
});
export type OciIndex = z.infer<typeof ociIndexSchema>;

export const dockerManifestListSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.literal(MEDIA_TYPES.dockerManifestList),
  manifests: z.array(descriptorSchema.extend({ platform: ociPlatformSchema })),
});
export type DockerManifestList = z.infer<typeof dockerManifestListSchema>;

/** An image manifest in either format (the Docker one is a subset of the OCI one). */
export type ImageManifest = OciManifest | DockerManifest;
/** An index in either format. */
export type ImageIndex = OciIndex | DockerManifestList;

/** Durations are nanoseconds, as in Docker's API. */
export const healthcheckSchema = z.looseObject({
  Test: nullish(z.array(z.string())),
  Interval: z.number().int().nonnegative().optional(),
  Timeout: z.number().int().nonnegative().optional(),
  StartPeriod: z.number().int().nonnegative().optional(),
  StartInterval: z.number().int().nonnegative().optional(),
  Retries: z.number().int().nonnegative().optional(),
});
export type Healthcheck = z.infer<typeof healthcheckSchema>;

// `{}` values of ExposedPorts/Volumes: an empty struct in Go; accept any object.
const emptyObjectSchema = z.looseObject({});

/** The `config` object of an image config: what `docker run` starts by default. */
export const containerConfigSchema = z.looseObject({
  User: z.string().optional(),
  ExposedPorts: nullish(z.record(z.string(), emptyObjectSchema)),
  Env: nullish(z.array(z.string())),
  Entrypoint: nullish(z.array(z.string())),
  Cmd: nullish(z.array(z.string())),
  Volumes: nullish(z.record(z.string(), emptyObjectSchema)),
  WorkingDir: z.string().optional(),
  Labels: nullish(z.record(z.string(), z.string())),
  StopSignal: z.string().optional(),
  ArgsEscaped: z.boolean().optional(),
  Healthcheck: nullish(healthcheckSchema),
  OnBuild: nullish(z.array(z.string())),
  Shell: nullish(z.array(z.string())),
});
export type ContainerConfig = z.infer<typeof containerConfigSchema>;

export const historySchema = z.looseObject({
  created: z.string().optional(),
  created_by: z.string().optional(),
  author: z.string().optional(),
  comment: z.string().optional(),
  empty_layer: z.boolean().optional(),
});
export type History = z.infer<typeof historySchema>;

export const rootfsSchema = z.looseObject({
  type: z.literal('layers'),
  diff_ids: z.array(digestSchema),
});

/** An image config (OCI `application/vnd.oci.image.config.v1+json` or Docker's container.image.v1). */
export const imageConfigSchema = z.looseObject({
  created: z.string().optional(),
  author: z.string().optional(),
  architecture: z.string(),
  os: z.string(),
  'os.version': z.string().optional(),
  'os.features': z.array(z.string()).optional(),
  variant: z.string().optional(),
  config: nullish(containerConfigSchema),
  rootfs: rootfsSchema,
  history: nullish(z.array(historySchema)),
});
export type ImageConfig = z.infer<typeof imageConfigSchema>;

/**
 * A layer of an image as a build keeps it: its blob (the manifest's descriptor fields) and its diff id
 * (the sha256 of the uncompressed tar: the config's `rootfs.diff_ids` entry).
 */
export const imageLayerSchema = z.object({
  diffId: digestSchema,
  digest: digestSchema,
  size: z.number().int().nonnegative(),
  mediaType: z.string(),
});
export type ImageLayer = Readonly<z.infer<typeof imageLayerSchema>>;

/** The `index.json` of an OCI image layout is an OCI index. */
export const ociLayoutHeaderSchema = z.object({ imageLayoutVersion: z.string() });

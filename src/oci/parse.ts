import type { z } from 'zod';
import { StagecraftError, sha256Digest, type Digest } from '../core/index.js';
import {
  MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  isImageIndexMediaType,
  isManifestMediaType,
  isSchema1MediaType,
  stripMediaTypeParameters,
  type ImageIndexMediaType,
  type ImageManifestMediaType,
  type ManifestMediaType,
} from './media-types.js';
import {
  dockerManifestListSchema,
  dockerManifestSchema,
  imageConfigSchema,
  ociIndexSchema,
  ociManifestSchema,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
} from './schemas.js';

interface ParsedCommon {
  /** sha256 of the exact bytes parsed. */
  readonly digest: Digest;
  readonly size: number;
  readonly bytes: Uint8Array;
}

/** A manifest parsed once: `kind` tells manifest from index, `mediaType` the format. */
export type ParsedManifest =
  | (ParsedCommon & { readonly kind: 'manifest'; readonly mediaType: ImageManifestMediaType; readonly manifest: ImageManifest })
  | (ParsedCommon & { readonly kind: 'index'; readonly mediaType: ImageIndexMediaType; readonly index: ImageIndex });

export interface ParseOptions {
  /** Where the bytes came from, for messages: `registry docker.io/library/busybox`, a file path. */
  readonly source?: string | undefined;
  /**
   * The mediaType of the descriptor that pointed at these bytes (an index entry), when there was one:
   * the document must be of the same kind (image manifest or index).
   */
  readonly descriptorMediaType?: string | undefined;
}

/** The largest image config accepted (its bytes are read whole): far above any real image's. */
export const MAX_IMAGE_CONFIG_BYTES = 8 * 1024 * 1024;

const SCHEMA1_HINT =
  'Docker schema 1 manifests are deprecated and not supported; re-push the image with a current docker or convert it with `skopeo copy --format v2s2 docker://SRC docker://DEST`';

function describeSource(options: ParseOptions): string {
  return options.source === undefined ? '' : ` from ${options.source}`;
}

/** "config.digest: expected …; layers[2].size: …" — the first few zod issues, with paths. */
export function formatIssues(error: z.ZodError): string {
  const issues = error.issues.slice(0, 3).map((issue) => {
    const path = issue.path
      .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i === 0 ? '' : '.'}${String(part)}`))
      .join('');
    return path === '' ? issue.message : `${path}: ${issue.message}`;
  });
  const more = error.issues.length > 3 ? ` (and ${error.issues.length - 3} more)` : '';
  return issues.join('; ') + more;
}

function decodeJson(bytes: Uint8Array, what: string, options: ParseOptions): unknown {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new StagecraftError('INVALID_MANIFEST', `${what}${describeSource(options)} is not UTF-8 text`, { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (cause) {
    throw new StagecraftError('INVALID_MANIFEST', `${what}${describeSource(options)} is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  // Unknown fields of a config are kept and later serialized again (recursively): a document nested a
  // million levels deep parses, but would overflow the stack there.
  if (nestedDeeperThan(value, MAX_JSON_DEPTH)) {
    throw new StagecraftError('INVALID_MANIFEST', `${what}${describeSource(options)} is nested more than ${MAX_JSON_DEPTH} levels deep`, {
      hint: 'manifests and image configs are shallow JSON documents; this one is malformed or hostile',
    });
  }
  return value;
}

/** Deeper than any real manifest or config (they nest 4 or 5 levels). */
const MAX_JSON_DEPTH = 64;

/** True when `value` has arrays or objects nested more than `limit` levels (walked without recursion). */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (typeof item.value !== 'object' || item.value === null) continue;
    const depth = item.depth + 1;
    if (depth > limit) return true;
    for (const child of Object.values(item.value)) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth });
    }
  }
  return false;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(mediaType: ManifestMediaType): 'image manifest' | 'index' {
  return isImageIndexMediaType(mediaType) ? 'index' : 'image manifest';
}

// The OCI image spec's advisory GHSA-77vh-xpmg-72qh (2021) made mediaType agreement a requirement.
const AMBIGUOUS_HINT =
  'the OCI image spec forbids a document that can be read both as an image manifest and as an index; the registry (or the tool that pushed the image) is broken or hostile; re-push the image with a current tool';

/**
 * The media type from the body, the header, or the shape of the document (in that order), refusing
 * any disagreement between them, as containerd does (its validateManifest): a body mediaType must equal
 * the Content-Type, a referring descriptor must name the same kind, an image manifest must not carry
 * `manifests` and an index must not carry `config` or `layers` — else one document could be read as
 * two different images depending on who looks.
 */
function detectMediaType(body: Record<string, unknown>, header: string | undefined, options: ParseOptions): string {
  const fromBody = typeof body['mediaType'] === 'string' ? body['mediaType'] : undefined;
  const fromHeader = header === undefined || header === '' ? undefined : stripMediaTypeParameters(header);
  if (body['schemaVersion'] === 1 || 'fsLayers' in body || (fromHeader !== undefined && isSchema1MediaType(fromHeader))) {
    throw new StagecraftError('UNSUPPORTED_MEDIA_TYPE', `manifest${describeSource(options)} is a Docker schema 1 manifest`, { hint: SCHEMA1_HINT });
  }
  let mediaType: string;
  if (fromBody !== undefined) {
    // OCI image-spec manifest.md: when mediaType is set it MUST match the descriptor/Content-Type.
    if (fromHeader !== undefined && isManifestMediaType(fromHeader) && fromHeader !== fromBody) {
      throw new StagecraftError('INVALID_MANIFEST', `manifest${describeSource(options)} says mediaType ${fromBody} but was served as ${fromHeader}`, {
        hint: 'the registry or the tool that pushed this manifest stored an inconsistent media type; re-push the image',
      });
    }
    mediaType = fromBody;
  } else if (fromHeader !== undefined && isManifestMediaType(fromHeader)) {
    mediaType = fromHeader;
  } else if (Array.isArray(body['manifests'])) {
    // OCI manifests and indexes may omit mediaType; tell them apart by their fields.
    mediaType = MEDIA_TYPES.ociIndex;
  } else if (isRecord(body['config']) && Array.isArray(body['layers'])) {
    mediaType = MEDIA_TYPES.ociManifest;
  } else {
    return fromHeader ?? 'unknown';
  }
  if (!isManifestMediaType(mediaType)) return mediaType;
  const kind = kindOf(mediaType);
  const stray = kind === 'index' ? ['config', 'layers'].filter((field) => field in body) : 'manifests' in body ? ['manifests'] : [];
  if (stray.length > 0) {
    const other = kind === 'index' ? 'an image manifest' : 'an index';
    throw new StagecraftError('INVALID_MANIFEST', `manifest${describeSource(options)} is ambiguous: it is ${kind === 'index' ? 'an index' : 'an image manifest'} (${mediaType}) but has ${stray.map((f) => `"${f}"`).join(' and ')}, ${stray.length > 1 ? 'fields' : 'a field'} of ${other}`, {
      hint: AMBIGUOUS_HINT,
    });
  }
  const expected = options.descriptorMediaType === undefined ? undefined : stripMediaTypeParameters(options.descriptorMediaType);
  if (expected !== undefined && isManifestMediaType(expected) && kindOf(expected) !== kind) {
    throw new StagecraftError('INVALID_MANIFEST', `manifest${describeSource(options)} is ${kind === 'index' ? 'an index' : 'an image manifest'} (${mediaType}) but the descriptor that points to it says ${expected}`, {
      hint: AMBIGUOUS_HINT,
    });
  }
  return mediaType;
}

/**
 * Detects the kind of a manifest (OCI/Docker, manifest/index), validates it once and returns the
 * parsed value with the digest of `bytes`. `mediaTypeHeader` is the Content-Type the registry sent or
 * the descriptor's mediaType, when known. Errors: UNSUPPORTED_MEDIA_TYPE for Docker schema 1 and
 * unknown media types; INVALID_MANIFEST for bad JSON or a document that fails its schema.
 */
export function parseManifest(bytes: Uint8Array, mediaTypeHeader?: string, options: ParseOptions = {}): ParsedManifest {
  const body = decodeJson(bytes, 'manifest', options);
  if (!isRecord(body)) throw new StagecraftError('INVALID_MANIFEST', `manifest${describeSource(options)} is not a JSON object`);
  const mediaType = detectMediaType(body, mediaTypeHeader, options);
  if (isSchema1MediaType(mediaType)) {
    throw new StagecraftError('UNSUPPORTED_MEDIA_TYPE', `manifest${describeSource(options)} is a Docker schema 1 manifest`, { hint: SCHEMA1_HINT });
  }
  if (!isManifestMediaType(mediaType)) {
    throw new StagecraftError('UNSUPPORTED_MEDIA_TYPE', `manifest${describeSource(options)} has unsupported media type ${JSON.stringify(mediaType)}`, {
      hint: `stagecraft reads ${MANIFEST_MEDIA_TYPES.join(', ')}`,
    });
  }
  const common = { digest: sha256Digest(bytes), size: bytes.byteLength, bytes };
  const fail = (error: z.ZodError): StagecraftError =>
    new StagecraftError('INVALID_MANIFEST', `invalid ${mediaType} manifest${describeSource(options)}: ${formatIssues(error)}`, { cause: error });
  return parseAs(mediaType, body, common, fail, options);
}

/** An image config is read whole into memory: refuse one declared past the limit before it is fetched. */
function checkConfigSize(manifest: ImageManifest, options: ParseOptions): void {
  const { mediaType, size } = manifest.config;
  if ((mediaType === MEDIA_TYPES.ociConfig || mediaType === MEDIA_TYPES.dockerConfig) && size > MAX_IMAGE_CONFIG_BYTES) {
    throw new StagecraftError('INVALID_MANIFEST', `manifest${describeSource(options)} declares an image config of ${size} bytes, more than the limit of ${MAX_IMAGE_CONFIG_BYTES}`, {
      hint: 'image configs are small JSON documents; this image is malformed or hostile',
    });
  }
}

function parseAs(
  mediaType: ManifestMediaType,
  body: Record<string, unknown>,
  common: ParsedCommon,
  fail: (error: z.ZodError) => StagecraftError,
  options: ParseOptions,
): ParsedManifest {
  switch (mediaType) {
    case MEDIA_TYPES.ociManifest: {
      const result = ociManifestSchema.safeParse(body);
      if (!result.success) throw fail(result.error);
      checkConfigSize(result.data, options);
      return { ...common, kind: 'manifest', mediaType, manifest: result.data };
    }
    case MEDIA_TYPES.dockerManifest: {
      const result = dockerManifestSchema.safeParse(body);
      if (!result.success) throw fail(result.error);
      checkConfigSize(result.data, options);
      return { ...common, kind: 'manifest', mediaType, manifest: result.data };
    }
    case MEDIA_TYPES.ociIndex: {
      const result = ociIndexSchema.safeParse(body);
      if (!result.success) throw fail(result.error);
      return { ...common, kind: 'index', mediaType, index: result.data };
    }
    case MEDIA_TYPES.dockerManifestList: {
      const result = dockerManifestListSchema.safeParse(body);
      if (!result.success) throw fail(result.error);
      return { ...common, kind: 'index', mediaType, index: result.data };
    }
  }
}

/** Validates an image config (OCI or Docker). Errors are INVALID_MANIFEST. */
export function parseImageConfig(bytes: Uint8Array, options: ParseOptions = {}): ImageConfig {
  if (bytes.byteLength > MAX_IMAGE_CONFIG_BYTES) {
    throw new StagecraftError('INVALID_MANIFEST', `image config${describeSource(options)} has ${bytes.byteLength} bytes, more than the limit of ${MAX_IMAGE_CONFIG_BYTES}`, {
      hint: 'image configs are small JSON documents; this image is malformed or hostile',
    });
  }
  const body = decodeJson(bytes, 'image config', options);
  const result = imageConfigSchema.safeParse(body);
  if (!result.success) {
    throw new StagecraftError('INVALID_MANIFEST', `invalid image config${describeSource(options)}: ${formatIssues(result.error)}`, { cause: result.error });
  }
  return result.data;
}

/** The descriptor of parsed manifest bytes (for tagging, pushing or listing in an index). */
export function manifestDescriptor(parsed: ParsedManifest): Descriptor {
  return { mediaType: parsed.mediaType, digest: parsed.digest, size: parsed.size };
}

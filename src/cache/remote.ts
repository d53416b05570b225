/**
 * Build cache shared through an OCI registry or a directory (`--cache-to` / `--cache-from`). The
 * exported cache is an OCI image manifest whose config lists cache records (key → layers) and whose
 * layers are the blobs those records need. Importing registers the records locally with the
 * registry as the layers' source, so a later build fetches only the layers it really uses.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import type { Content } from '../content/index.js';
import { StagecraftError, digestHex, formatImageRef, parseDigest, parseImageRef, sha256Digest, type Digest, type ImageRef } from '../core/index.js';
import { MAX_IMAGE_CONFIG_BYTES, MEDIA_TYPES, isImageManifestMediaType, parseManifest, type Descriptor, type ImageLayer, type ImageManifest, type ParsedManifest } from '../oci/index.js';
import type { RegistryClient } from '../registry/index.js';
import { parseKeyValueFlagLast, splitFlagFields } from '../util/csv-flags.js';
import { INLINE_CACHE_CONFIG_KEY, readInlineCache, type InlineCacheContents } from './inline.js';
import { writeFileAtomic, writeStreamAtomic } from '../util/atomic.js';
import { LayerRecord, digest, madeLayers, type CacheKeyLinks, type CacheRecords, type KeyLink, type StepLayer } from './records.js';

export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.stagecraft.cache.config.v1+json';

/** The config of a cache BuildKit exported (`--cache-to type=registry|local` of buildx). */
const BUILDKIT_CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.buildkit.cacheconfig.v0';

/** BuildKit's cache keys are digests of its LLB ops, stagecraft's of its own plan: they never meet. */
const BUILDKIT_KEYS = "keyed by digests of BuildKit's LLB, which stagecraft's cache keys never match: not used";

export type CacheLocation =
  | { readonly type: 'registry'; readonly ref: string }
  | { readonly type: 'local'; readonly dir: string };

export interface CacheExportSpec {
  /** `inline`: the records go into the image config (`moby.buildkit.cache.v0`). */
  readonly location: CacheLocation | { readonly type: 'inline' };
  /** `min`: the result only; `max`: every step. */
  readonly mode: 'min' | 'max';
  /** `ignore-error=true`: a failed export is a warning, not a failed build (as buildx). */
  readonly ignoreError: boolean;
}

/** What importing one `--cache-from` did: records registered, and warnings for the build output. */
export interface CacheImportResult {
  readonly imported: number;
  readonly warnings: readonly string[];
}

const CacheConfig = z.object({
  version: z.literal(1),
  records: z.array(z.object({ key: z.string(), name: z.string(), layers: z.array(LayerRecord) })),
  /** Selection key → content digest of what steps select from other stages (CacheKeyLinks). */
  links: z.array(z.tuple([digest, digest])).optional(),
});
type CacheConfig = z.infer<typeof CacheConfig>;

export interface RemoteCacheDeps {
  readonly content: Content;
  readonly registry: RegistryClient;
  readonly records: CacheRecords;
  /** Makes the lazy layers of a record (ops/layers.ts `resolve`); absent: records with lazy layers are not exported. */
  readonly resolveLayers?: ((layers: readonly StepLayer[], signal: AbortSignal) => Promise<readonly LayerRecord[]>) | undefined;
  /** Where imported links go (selection key → content digest); absent: links are not imported. */
  readonly links?: CacheKeyLinks | undefined;
  /** The links an export carries: those of the build's content-keyed steps (solver `CacheKey.links`). */
  readonly exportLinks?: readonly KeyLink[] | undefined;
  /** The layers as they should leave the machine (plain tar layers compressed); identity if absent. */
  readonly exportLayers?: ((layers: readonly ImageLayer[], signal: AbortSignal | undefined) => Promise<readonly ImageLayer[]>) | undefined;
}

/** Parses `type=registry,ref=R[,mode=…]`, `type=local,dest=D|src=D`, `type=inline` (to), or a bare reference; `ignore-error=BOOL` (to). */
export function parseCacheSpec(raw: string, direction: 'from'): CacheExportSpec & { readonly location: CacheLocation };
export function parseCacheSpec(raw: string, direction: 'to'): CacheExportSpec;
export function parseCacheSpec(raw: string, direction: 'to' | 'from'): CacheExportSpec {
  const flag = direction === 'to' ? '--cache-to' : '--cache-from';
  // As buildx: CSV (util/csv-flags.ts); one field without `=` is a registry reference.
  const fields = splitFlagFields(raw, flag);
  if (fields.length === 1 && fields[0] !== undefined && !fields[0].includes('=')) return { location: { type: 'registry', ref: fields[0] }, mode: 'min', ignoreError: false };
  const map = parseKeyValueFlagLast(raw, flag);
  const mode = map.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new StagecraftError('USAGE', `${flag} ${raw}: mode must be min or max`, { hint: 'write mode=min (the result) or mode=max (every step)' });
  const ignoreError = parseBool(map.get('ignore-error') ?? 'false');
  if (ignoreError === undefined) throw new StagecraftError('USAGE', `${flag} ${raw}: ignore-error must be true or false`, { hint: 'write ignore-error=true to make a failed cache export a warning' });
  const type = map.get('type');
  if (type === 'registry') {
    const ref = map.get('ref');
    if (ref === undefined || ref === '') throw new StagecraftError('USAGE', `${flag} ${raw}: type=registry needs ref=`, { hint: 'write type=registry,ref=registry.example.com/app:cache' });
    return { location: { type: 'registry', ref: formatImageRef(parseImageRef(ref)) }, mode, ignoreError };
  }
  if (type === 'local') {
    const dir = direction === 'to' ? map.get('dest') : map.get('src');
    if (dir === undefined || dir === '') throw new StagecraftError('USAGE', `${flag} ${raw}: type=local needs ${direction === 'to' ? 'dest=' : 'src='}`, { hint: `write type=local,${direction === 'to' ? 'dest' : 'src'}=DIR` });
    return { location: { type: 'local', dir }, mode, ignoreError };
  }
  if (type === 'inline' && direction === 'to') return { location: { type: 'inline' }, mode, ignoreError };
  if (type === 'inline') throw new StagecraftError('USAGE', `${flag} ${raw}: an inline cache is read from its image`, { hint: 'write --cache-from type=registry,ref=IMAGE (or just --cache-from IMAGE) for the image built with --cache-to type=inline' });
  throw new StagecraftError('USAGE', `${flag} ${raw}: unsupported cache type "${type ?? ''}"`, { hint: `use type=registry,ref=…${direction === 'to' ? ', type=inline' : ''} or type=local,…` });
}

/** Go's strconv.ParseBool, which buildx uses for boolean attributes. */
function parseBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

export async function exportCache(deps: RemoteCacheDeps, location: CacheLocation, keys: readonly Digest[], signal?: AbortSignal): Promise<number> {
  // Every link of the build, whatever the mode: a mode=min target's key is made from them.
  const config: CacheConfig = { version: 1, records: [], ...(deps.exportLinks !== undefined && deps.exportLinks.length > 0 ? { links: deps.exportLinks.map(([from, to]): [Digest, Digest] => [from, to]) } : {}) };
  const layers = new Map<Digest, { digest: Digest; size: number; mediaType: string }>();
  for (const key of keys) {
    const row = deps.records.get(key);
    if (row === undefined) continue;
    let made: readonly LayerRecord[] | undefined = madeLayers(row.result.layers);
    if (made === undefined && deps.resolveLayers === undefined) continue;
    made ??= await deps.resolveLayers?.(row.result.layers, signal ?? new AbortController().signal) ?? [];
    const plain = made.map(({ source: _source, ...layer }) => layer);
    const recordLayers = deps.exportLayers === undefined ? plain : [...(await deps.exportLayers(plain, signal))];
    config.records.push({ key, name: row.name, layers: recordLayers });
    for (const layer of recordLayers) layers.set(layer.digest, { digest: layer.digest, size: layer.size, mediaType: layer.mediaType });
  }
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociManifest,
    config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256Digest(configBytes), size: configBytes.length },
    layers: [...layers.values()],
  }));
  if (location.type === 'registry') {
    const ref = parseImageRef(location.ref);
    await deps.registry.ping(ref.domain, { signal });
    for (const layer of layers.values()) {
      await deps.registry.pushBlob(ref, layer, () => createReadStream(deps.content.blobs.blobPath(layer.digest)), { signal });
    }
    await deps.registry.pushBlob(ref, { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256Digest(configBytes), size: configBytes.length }, () => Readable.from([configBytes]), { signal });
    await deps.registry.putManifest(ref, ref.tag ?? 'latest', MEDIA_TYPES.ociManifest, manifest, { signal });
  } else {
    const dir = location.dir;
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const blobPath = (digest: Digest): string => join(dir, 'blobs', 'sha256', digestHex(digest));
    for (const layer of layers.values()) {
      await writeStreamAtomic(blobPath(layer.digest), await deps.content.blobs.open(layer.digest), { signal });
    }
    await writeFileAtomic(blobPath(sha256Digest(configBytes)), configBytes);
    await writeFileAtomic(blobPath(sha256Digest(manifest)), manifest);
    await writeFileAtomic(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const index = { schemaVersion: 2, manifests: [{ mediaType: MEDIA_TYPES.ociManifest, digest: sha256Digest(manifest), size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': 'cache' } }] };
    await writeFileAtomic(join(dir, 'index.json'), JSON.stringify(index));
  }
  return config.records.length;
}

/** The largest cache config read (its bytes are read whole): about 100,000 records. */
export const MAX_CACHE_CONFIG_BYTES = 64 * 1024 * 1024;

/** The most image manifests of an index searched for an inline cache. */
const MAX_INLINE_MANIFESTS = 64;

function cacheConfigTooLarge(where: string, size: number, limit = MAX_CACHE_CONFIG_BYTES): StagecraftError {
  return new StagecraftError('INVALID_MANIFEST', `${where}: the build cache config is ${size} bytes, over the ${limit}-byte limit`, { hint: 'this is not a cache stagecraft wrote; check --cache-from' });
}

function parseCacheConfig(bytes: Buffer, where: string): CacheConfig {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new StagecraftError('INVALID_MANIFEST', `${where}: the build cache config is not JSON`, { hint: 'use a cache written by --cache-to' });
  }
  const parsed = CacheConfig.safeParse(json);
  if (!parsed.success) throw new StagecraftError('INVALID_MANIFEST', `${where}: the build cache config is invalid: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`, { hint: 'use a cache written by --cache-to' });
  return parsed.data;
}

/** A registry blob read whole (verified by the client while streaming), refused over `limit` bytes. */
async function readRegistryBlob(deps: RemoteCacheDeps, ref: ImageRef, descriptor: Descriptor, limit: number, where: string, signal: AbortSignal | undefined): Promise<Buffer> {
  if (descriptor.size > limit) throw cacheConfigTooLarge(where, descriptor.size, limit);
  const stream = await deps.registry.fetchBlob(ref, descriptor, { signal });
  const chunks: Buffer[] = [];
  let received = 0;
  for await (const chunk of stream) {
    received += (chunk as Buffer).length;
    if (received > limit) {
      stream.destroy();
      throw cacheConfigTooLarge(where, received, limit);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const InlineImageConfig = z.object({
  rootfs: z.object({ diff_ids: z.array(z.string()) }),
  [INLINE_CACHE_CONFIG_KEY]: z.unknown().optional(),
});

function isImageConfig(manifest: ImageManifest): boolean {
  return manifest.config.mediaType === MEDIA_TYPES.ociConfig || manifest.config.mediaType === MEDIA_TYPES.dockerConfig;
}

/**
 * The inline cache in an image config (stagecraft's records, and how many BuildKit records it held),
 * or undefined when the image carries none. As BuildKit, an image whose config lists a different
 * number of layers than its manifest is skipped.
 */
function inlineCacheOfConfig(bytes: Buffer, manifest: ImageManifest, source: string | undefined, where: string): InlineCacheContents | undefined {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new StagecraftError('INVALID_MANIFEST', `${where}: the image config is not JSON`, { hint: 'check --cache-from: it should name a cache or an image built with --cache-to type=inline' });
  }
  const parsed = InlineImageConfig.safeParse(json);
  if (!parsed.success || manifest.layers.length === 0 || parsed.data.rootfs.diff_ids.length !== manifest.layers.length) return undefined;
  const layers = manifest.layers.map((layer, i) => ({ diffId: parseDigest(parsed.data.rootfs.diff_ids[i] ?? ''), digest: layer.digest, size: layer.size, mediaType: layer.mediaType }));
  return readInlineCache(parsed.data[INLINE_CACHE_CONFIG_KEY], layers, source, where);
}

async function readImageInlineCache(deps: RemoteCacheDeps, ref: ImageRef, manifest: ImageManifest, where: string, signal: AbortSignal | undefined): Promise<InlineCacheContents | undefined> {
  if (manifest.layers.length === 0 || !isImageConfig(manifest)) return undefined;
  const bytes = await readRegistryBlob(deps, ref, manifest.config, MAX_IMAGE_CONFIG_BYTES, where, signal);
  return inlineCacheOfConfig(bytes, manifest, formatImageRef(ref), where);
}

/** Records the inline caches of an image or of every image of an index (as BuildKit) hold. */
async function importInlineCache(deps: RemoteCacheDeps, ref: ImageRef, parsed: ParsedManifest, where: string, signal: AbortSignal | undefined): Promise<{ config: CacheConfig; foreign: number; images: number }> {
  const manifests: ImageManifest[] = [];
  if (parsed.kind === 'manifest') manifests.push(parsed.manifest);
  else {
    for (const entry of parsed.index.manifests.filter((m) => isImageManifestMediaType(m.mediaType)).slice(0, MAX_INLINE_MANIFESTS)) {
      const child = await deps.registry.fetchManifest(ref, entry.digest, { signal });
      if (child.parsed.kind === 'manifest') manifests.push(child.parsed.manifest);
    }
  }
  const config: CacheConfig = { version: 1, records: [] };
  let foreign = 0;
  let images = 0;
  for (const manifest of manifests) {
    const contents = await readImageInlineCache(deps, ref, manifest, where, signal);
    if (contents === undefined) continue;
    images++;
    foreign += contents.foreign;
    for (const record of contents.records) config.records.push({ key: record.key, name: record.name, layers: [...record.layers] });
    if (contents.links.length > 0) config.links = [...(config.links ?? []), ...contents.links.map(([from, to]): [Digest, Digest] => [from, to])];
  }
  return { config, foreign, images };
}

/**
 * Registers the records of an exported cache, or of an image's inline cache (`moby.buildkit.cache.v0`).
 * A reference that does not exist or cannot be reached, and an image with no stagecraft records, come
 * back as warnings; content that fails validation is an error (importCaches makes it a warning).
 */
export async function importCache(deps: RemoteCacheDeps, location: CacheLocation, signal?: AbortSignal): Promise<CacheImportResult> {
  let config: CacheConfig;
  let source: string | undefined;
  const warnings: string[] = [];
  if (location.type === 'registry') {
    const ref = parseImageRef(location.ref);
    let fetched;
    try {
      fetched = await deps.registry.fetchManifest(ref, ref.tag ?? ref.digest ?? 'latest', { signal });
    } catch (error) {
      if (signal?.aborted === true || !(error instanceof StagecraftError) || error.code === 'ABORTED') throw error;
      // BuildKit's words for a cache it cannot resolve; the build goes on without it.
      return { imported: 0, warnings: [`importing cache manifest from ${location.ref}: failed to configure registry cache importer: ${error.message}`] };
    }
    const parsed = fetched.parsed;
    if (parsed.kind === 'manifest' && parsed.manifest.config.mediaType === CACHE_CONFIG_MEDIA_TYPE) {
      const bytes = await readRegistryBlob(deps, ref, parsed.manifest.config, MAX_CACHE_CONFIG_BYTES, location.ref, signal);
      config = parseCacheConfig(bytes, location.ref);
    } else if (parsed.kind === 'manifest' ? parsed.manifest.config.mediaType === BUILDKIT_CACHE_CONFIG_MEDIA_TYPE : parsed.index.manifests.some((m) => m.mediaType === BUILDKIT_CACHE_CONFIG_MEDIA_TYPE)) {
      config = { version: 1, records: [] };
      warnings.push(`importing cache manifest from ${location.ref}: a cache BuildKit exported (${BUILDKIT_CACHE_CONFIG_MEDIA_TYPE}), ${BUILDKIT_KEYS}`);
    } else {
      const inline = await importInlineCache(deps, ref, fetched.parsed, location.ref, signal);
      config = inline.config;
      if (inline.images === 0) warnings.push(`importing cache manifest from ${location.ref}: not a build cache: neither a cache written by --cache-to nor an image with an inline cache (${INLINE_CACHE_CONFIG_KEY}); nothing imported`);
      if (inline.foreign > 0) warnings.push(`importing cache manifest from ${location.ref}: its inline cache holds ${inline.foreign} BuildKit cache record${inline.foreign === 1 ? '' : 's'}, ${BUILDKIT_KEYS}`);
    }
    source = formatImageRef(ref);
  } else {
    let index: unknown;
    try {
      index = JSON.parse(await readFile(join(location.dir, 'index.json'), 'utf8'));
    } catch (error) {
      // buildx's words for a missing local cache; the build goes on without it.
      const why = error instanceof SyntaxError ? `invalid JSON: ${error.message}` : error instanceof Error ? error.message : String(error);
      return { imported: 0, warnings: [`local cache import at ${location.dir} not found due to err: could not read ${join(location.dir, 'index.json')}: ${why}`] };
    }
    const entries = z.object({ manifests: z.array(z.object({ digest: z.string(), mediaType: z.string().optional() })).min(1) }).safeParse(index);
    if (!entries.success) throw new StagecraftError('INVALID_MANIFEST', `${location.dir}/index.json lists no cache manifest`, { hint: 'use a directory written by --cache-to type=local' });
    const entry = entries.data.manifests[0];
    const manifestDigest = parseDigest(entry?.digest ?? '');
    const blobPath = (digest: Digest): string => join(location.dir, 'blobs', 'sha256', digestHex(digest));
    const manifestBytes = await readFile(blobPath(manifestDigest));
    if (sha256Digest(manifestBytes) !== manifestDigest) throw new StagecraftError('DIGEST_MISMATCH', `${location.dir}: the cache manifest does not match its digest`);
    let parsed = parseManifest(manifestBytes, entry?.mediaType ?? MEDIA_TYPES.ociManifest);
    if (parsed.kind === 'index') {
      // A built image's index (the image and its attestation manifest, platform unknown/unknown): the image.
      const image = parsed.index.manifests.find((m) => m.platform?.os !== 'unknown' && isImageManifestMediaType(m.mediaType));
      if (image !== undefined) {
        const imageBytes = await readFile(blobPath(image.digest));
        if (sha256Digest(imageBytes) !== image.digest) throw new StagecraftError('DIGEST_MISMATCH', `${location.dir}: the image manifest ${image.digest} does not match its digest`);
        parsed = parseManifest(imageBytes, image.mediaType);
      }
    }
    if (parsed.kind !== 'manifest' || (parsed.manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE && !isImageConfig(parsed.manifest))) throw new StagecraftError('INVALID_MANIFEST', `${location.dir} is neither a stagecraft build cache nor an image`, { hint: 'use a directory written by --cache-to type=local, or an OCI layout of one image built with --cache-to type=inline' });
    const cache = parsed.manifest.config.mediaType === CACHE_CONFIG_MEDIA_TYPE;
    const limit = cache ? MAX_CACHE_CONFIG_BYTES : MAX_IMAGE_CONFIG_BYTES;
    if (parsed.manifest.config.size > limit) throw cacheConfigTooLarge(location.dir, parsed.manifest.config.size, limit);
    const configBytes = await readFile(blobPath(parsed.manifest.config.digest));
    if (sha256Digest(configBytes) !== parsed.manifest.config.digest) throw new StagecraftError('DIGEST_MISMATCH', `${location.dir}: the cache config does not match its digest ${parsed.manifest.config.digest}`, { hint: 'the cache directory was changed after it was written: export it again with --cache-to' });
    let needed: readonly { digest: Digest; size: number }[] = parsed.manifest.layers;
    if (cache) config = parseCacheConfig(configBytes, location.dir);
    else {
      // An OCI layout of an image (e.g. `-o type=oci` unpacked): its inline cache, as BuildKit's local importer.
      const inline = inlineCacheOfConfig(configBytes, parsed.manifest, undefined, location.dir);
      config = { version: 1, records: (inline?.records ?? []).map((r) => ({ key: r.key, name: r.name, layers: [...r.layers] })), ...(inline !== undefined && inline.links.length > 0 ? { links: inline.links.map(([from, to]): [Digest, Digest] => [from, to]) } : {}) };
      if (inline === undefined) warnings.push(`local cache import at ${location.dir}: not a build cache: an image without an inline cache (${INLINE_CACHE_CONFIG_KEY}); nothing imported`);
      if (inline !== undefined && inline.foreign > 0) warnings.push(`local cache import at ${location.dir}: its inline cache holds ${inline.foreign} BuildKit cache record${inline.foreign === 1 ? '' : 's'}, ${BUILDKIT_KEYS}`);
      needed = parsed.manifest.layers.slice(0, config.records.reduce((most, r) => Math.max(most, r.layers.length), 0));
    }
    // A directory has no registry to fetch from later: ingest the layers now (verified).
    for (const layer of needed) {
      if (!(await deps.content.blobs.has(layer.digest))) {
        await deps.content.blobs.ingest(createReadStream(blobPath(layer.digest)), { digest: layer.digest, size: layer.size, signal });
      }
    }
  }
  for (const record of config.records) {
    const key = parseDigest(record.key);
    if (deps.records.get(key) !== undefined) continue;
    deps.records.put(key, record.name, { layers: record.layers.map((l) => (source === undefined ? l : { ...l, source })) }, { imported: location });
  }
  for (const [from, to] of config.links ?? []) if (deps.links !== undefined && deps.links.get(from) === undefined) deps.links.put(from, to);
  return { imported: config.records.length, warnings };
}

function describeLocation(location: CacheLocation): string {
  return location.type === 'registry' ? `importing cache manifest from ${location.ref}` : `local cache import at ${location.dir}`;
}

/**
 * Imports every `--cache-from` as buildx does: a cache that is missing, unreachable, invalid or not a
 * cache is a warning (`warn`), and the build goes on without it. Only cancellation, and errors that
 * are neither stagecraft's nor the filesystem's (bugs), end the build.
 */
export async function importCaches(deps: RemoteCacheDeps, locations: readonly CacheLocation[], warn: (message: string) => void, signal?: AbortSignal): Promise<number> {
  let imported = 0;
  for (const location of locations) {
    try {
      const result = await importCache(deps, location, signal);
      imported += result.imported;
      for (const warning of result.warnings) warn(warning);
    } catch (error) {
      if (signal?.aborted === true || (error instanceof StagecraftError && error.code === 'ABORTED')) throw error;
      const errno = error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string';
      if (!(error instanceof Error) || (!(error instanceof StagecraftError) && !errno)) throw error;
      warn(`${describeLocation(location)}: ${error.message}`);
    }
  }
  return imported;
}

/**
 * Runs one `--cache-to`: writes a registry or directory cache (an inline cache is already in the
 * image config: `inlineRecords` says how many records). With `ignore-error=true` a failure is a
 * warning and undefined comes back, as buildx; without it the failure fails the build.
 */
export async function exportCacheTo(deps: RemoteCacheDeps, spec: CacheExportSpec, keys: readonly Digest[], inlineRecords: number, warn: (message: string) => void, signal?: AbortSignal): Promise<string | undefined> {
  const { location } = spec;
  if (location.type === 'inline') return `cache (inline, ${inlineRecords} records) in the image config`;
  const where = location.type === 'registry' ? location.ref : location.dir;
  try {
    const count = await exportCache(deps, location, keys, signal);
    return `cache (${spec.mode}, ${count} records) to ${where}`;
  } catch (error) {
    if (!spec.ignoreError || signal?.aborted === true || (error instanceof StagecraftError && error.code === 'ABORTED')) throw error;
    warn(`failed to export cache to ${where} (ignore-error=true): ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

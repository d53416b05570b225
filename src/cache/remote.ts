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
import { StagecraftError, digestHex, formatImageRef, parseDigest, parseImageRef, sha256Digest, type Digest } from '../core/index.js';
import { MEDIA_TYPES, parseManifest } from '../oci/index.js';
import type { RegistryClient } from '../registry/index.js';
import { writeFileAtomic, writeStreamAtomic } from '../util/atomic.js';
import { LayerRecord, type CacheRecords } from './records.js';

export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.stagecraft.cache.config.v1+json';

export type CacheLocation =
  | { readonly type: 'registry'; readonly ref: string }
  | { readonly type: 'local'; readonly dir: string };

export interface CacheExportSpec {
  readonly location: CacheLocation;
  /** `min`: the result only; `max`: every step. */
  readonly mode: 'min' | 'max';
}

const CacheConfig = z.object({
  version: z.literal(1),
  records: z.array(z.object({ key: z.string(), name: z.string(), layers: z.array(LayerRecord) })),
});
type CacheConfig = z.infer<typeof CacheConfig>;

export interface RemoteCacheDeps {
  readonly content: Content;
  readonly registry: RegistryClient;
  readonly records: CacheRecords;
  /** The layers as they should leave the machine (plain tar layers compressed); identity if absent. */
  readonly exportLayers?: ((layers: readonly ExportedLayer[], signal: AbortSignal | undefined) => Promise<readonly ExportedLayer[]>) | undefined;
}

type ExportedLayer = Omit<LayerRecord, 'source'>;

/** Parses `type=registry,ref=R[,mode=…]`, `type=local,dest=D|src=D`, or a bare reference. */
export function parseCacheSpec(raw: string, direction: 'to' | 'from'): CacheExportSpec {
  const flag = direction === 'to' ? '--cache-to' : '--cache-from';
  if (!raw.includes('=')) return { location: { type: 'registry', ref: raw }, mode: 'min' };
  const map = new Map(raw.split(',').map((kv) => {
    const eq = kv.indexOf('=');
    return [eq === -1 ? kv : kv.slice(0, eq), eq === -1 ? '' : kv.slice(eq + 1)] as const;
  }));
  const mode = map.get('mode') ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new StagecraftError('USAGE', `${flag} ${raw}: mode must be min or max`, { hint: 'write mode=min (the result) or mode=max (every step)' });
  const type = map.get('type');
  if (type === 'registry') {
    const ref = map.get('ref');
    if (ref === undefined || ref === '') throw new StagecraftError('USAGE', `${flag} ${raw}: type=registry needs ref=`, { hint: 'write type=registry,ref=registry.example.com/app:cache' });
    return { location: { type: 'registry', ref: formatImageRef(parseImageRef(ref)) }, mode };
  }
  if (type === 'local') {
    const dir = direction === 'to' ? map.get('dest') : map.get('src');
    if (dir === undefined || dir === '') throw new StagecraftError('USAGE', `${flag} ${raw}: type=local needs ${direction === 'to' ? 'dest=' : 'src='}`, { hint: `write type=local,${direction === 'to' ? 'dest' : 'src'}=DIR` });
    return { location: { type: 'local', dir }, mode };
  }
  throw new StagecraftError('USAGE', `${flag} ${raw}: unsupported cache type "${type ?? ''}"`, { hint: 'use type=registry,ref=… or type=local,…' });
}

export async function exportCache(deps: RemoteCacheDeps, spec: CacheExportSpec, keys: readonly Digest[], signal?: AbortSignal): Promise<number> {
  const config: CacheConfig = { version: 1, records: [] };
  const layers = new Map<Digest, { digest: Digest; size: number; mediaType: string }>();
  for (const key of keys) {
    const row = deps.records.get(key);
    if (row === undefined) continue;
    const plain = row.result.layers.map(({ source: _source, ...layer }) => layer);
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
  if (spec.location.type === 'registry') {
    const ref = parseImageRef(spec.location.ref);
    await deps.registry.ping(ref.domain, { signal });
    for (const layer of layers.values()) {
      await deps.registry.pushBlob(ref, layer, () => createReadStream(deps.content.blobs.blobPath(layer.digest)), { signal });
    }
    await deps.registry.pushBlob(ref, { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256Digest(configBytes), size: configBytes.length }, () => Readable.from([configBytes]), { signal });
    await deps.registry.putManifest(ref, ref.tag ?? 'latest', MEDIA_TYPES.ociManifest, manifest, { signal });
  } else {
    const dir = spec.location.dir;
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

/** Registers the records of an exported cache; returns how many. */
/** The largest cache config read (its bytes are read whole): about 100,000 records. */
export const MAX_CACHE_CONFIG_BYTES = 64 * 1024 * 1024;

function cacheConfigTooLarge(where: string, size: number): StagecraftError {
  return new StagecraftError('INVALID_MANIFEST', `${where}: the build cache config is ${size} bytes, over the ${MAX_CACHE_CONFIG_BYTES}-byte limit`, { hint: 'this is not a cache stagecraft wrote; check --cache-from' });
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

export async function importCache(deps: RemoteCacheDeps, location: CacheLocation, signal?: AbortSignal): Promise<number> {
  let config: CacheConfig;
  let source: string | undefined;
  if (location.type === 'registry') {
    const ref = parseImageRef(location.ref);
    let fetched;
    try {
      fetched = await deps.registry.fetchManifest(ref, ref.tag ?? 'latest', { signal });
    } catch (error) {
      if (error instanceof StagecraftError && error.code === 'NOT_FOUND') return 0;
      throw error;
    }
    if (fetched.parsed.kind !== 'manifest' || fetched.parsed.manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
      throw new StagecraftError('INVALID_MANIFEST', `${location.ref} is not a stagecraft build cache`, { hint: 'use a reference written by --cache-to type=registry' });
    }
    const descriptor = fetched.parsed.manifest.config;
    if (descriptor.size > MAX_CACHE_CONFIG_BYTES) throw cacheConfigTooLarge(location.ref, descriptor.size);
    const stream = await deps.registry.fetchBlob(ref, descriptor, { signal });
    const chunks: Buffer[] = [];
    let received = 0;
    for await (const chunk of stream) {
      received += (chunk as Buffer).length;
      if (received > MAX_CACHE_CONFIG_BYTES) throw cacheConfigTooLarge(location.ref, received);
      chunks.push(chunk as Buffer);
    }
    config = parseCacheConfig(Buffer.concat(chunks), location.ref);
    source = formatImageRef(ref);
  } else {
    let index: unknown;
    try {
      index = JSON.parse(await readFile(join(location.dir, 'index.json'), 'utf8'));
    } catch {
      return 0;
    }
    const entry = z.object({ manifests: z.array(z.object({ digest: z.string() })).min(1) }).parse(index).manifests[0];
    const manifestDigest = parseDigest(entry?.digest ?? '');
    const manifestBytes = await readFile(join(location.dir, 'blobs', 'sha256', digestHex(manifestDigest)));
    if (sha256Digest(manifestBytes) !== manifestDigest) throw new StagecraftError('DIGEST_MISMATCH', `${location.dir}: the cache manifest does not match its digest`);
    const parsed = parseManifest(manifestBytes, MEDIA_TYPES.ociManifest);
    if (parsed.kind !== 'manifest') throw new StagecraftError('INVALID_MANIFEST', `${location.dir} is not a stagecraft build cache`);
    if (parsed.manifest.config.size > MAX_CACHE_CONFIG_BYTES) throw cacheConfigTooLarge(location.dir, parsed.manifest.config.size);
    const configBytes = await readFile(join(location.dir, 'blobs', 'sha256', digestHex(parsed.manifest.config.digest)));
    if (sha256Digest(configBytes) !== parsed.manifest.config.digest) throw new StagecraftError('DIGEST_MISMATCH', `${location.dir}: the cache config does not match its digest ${parsed.manifest.config.digest}`, { hint: 'the cache directory was changed after it was written: export it again with --cache-to' });
    config = parseCacheConfig(configBytes, location.dir);
    // A directory has no registry to fetch from later: ingest the layers now (verified).
    for (const layer of parsed.manifest.layers) {
      if (!(await deps.content.blobs.has(layer.digest))) {
        await deps.content.blobs.ingest(createReadStream(join(location.dir, 'blobs', 'sha256', digestHex(layer.digest))), { digest: layer.digest, size: layer.size, signal });
      }
    }
  }
  for (const record of config.records) {
    const key = parseDigest(record.key);
    if (deps.records.get(key) !== undefined) continue;
    deps.records.put(key, record.name, { layers: record.layers.map((l) => (source === undefined ? l : { ...l, source })) }, { imported: location });
  }
  return config.records.length;
}

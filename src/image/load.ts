/**
 * `load`: reads an OCI archive or a docker-archive (classic `docker save` or Docker 25+ layout) from a
 * stream, stores every blob verified (by its file name where the name is a digest, by the config's
 * diff IDs for docker layers), and names the images. Nothing is named unless every blob it needs is
 * present and valid; blobs stored before a failure are held only by a released lease and collected.
 */
import { z } from 'zod';
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import {
  StagecraftError,
  canonicalJson,
  formatImageRef,
  formatPlatform,
  parseDigest,
  parseImageRef,
  type Digest,
  type Platform,
} from '../core/index.js';
import { CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION, type BlobInfo, type Content, type Lease } from '../content/index.js';
import { MEDIA_TYPES, formatIssues, ociIndexSchema, parseImageConfig, parseManifest, platformFromOci, selectManifest, type Descriptor, type ImageConfig } from '../oci/index.js';
import { COMPRESSION_MAGIC_BYTES, decompressLayer, detectCompression, readTar, type ArchiveCompression } from '../snapshot/index.js';
import { readStoredImage } from './image.js';

export interface LoadOptions {
  /** Which manifest to take from a multi-platform index (default: the caller's host platform). */
  readonly platform: Platform;
  /** Names the input in messages (a file path or "stdin"). */
  readonly source: string;
  readonly signal?: AbortSignal | undefined;
}

export interface LoadedImage {
  /** Full normalised names now pointing at the image (empty if the archive named none). */
  readonly names: readonly string[];
  readonly manifest: Descriptor;
  /** The config digest: Docker's image ID (what `docker load` prints as `Loaded image ID`). */
  readonly id: Digest;
  readonly platform: string;
  readonly indexDigest?: Digest | undefined;
}

export interface LoadResult {
  readonly format: 'oci' | 'docker';
  readonly images: readonly LoadedImage[];
}

const METADATA_FILES = new Set(['index.json', 'oci-layout', 'manifest.json', 'repositories']);
const METADATA_LIMIT = 64 << 20;
const BLOB_PATH_RE = /^blobs\/sha256\/([a-f0-9]{64})$/;
const HEX_IN_NAME_RE = /(?:^|\/)([a-f0-9]{64})(?:\.json)?$/;

const dockerManifestJsonSchema = z.array(z.looseObject({
  Config: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Layers: z.array(z.string()),
}));

function invalid(source: string, message: string, hint?: string): StagecraftError {
  return new StagecraftError('ARCHIVE_INVALID', `${source}: ${message}`, { hint: hint ?? 'create the archive with `stagecraft save` or `docker save`, and check that it was copied whole' });
}

async function collectBytes(body: AsyncIterable<Buffer>, limit: number, what: string, source: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += chunk.length;
    if (total > limit) throw invalid(source, `${what} is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(bytes: Buffer, what: string, source: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalid(source, `${what} is not valid JSON: ${(error as Error).message}`);
  }
}

function configPlatform(config: ImageConfig): string {
  return formatPlatform(platformFromOci(config));
}

/** A full name from an index entry's annotations, or undefined for a bare tag like "latest". */
function nameFromAnnotations(annotations: Record<string, string> | undefined, source: string): string | undefined {
  const candidate = annotations?.[CONTAINERD_NAME_ANNOTATION] ?? annotations?.[REF_NAME_ANNOTATION];
  if (candidate === undefined || !/[/:]/.test(candidate)) return undefined;
  try {
    return formatImageRef(parseImageRef(candidate));
  } catch (error) {
    throw invalid(source, `index.json names an image ${JSON.stringify(candidate)} that is not a valid reference`, (error as StagecraftError).hint);
  }
}

/** Archive paths as compared by loaders: no leading `./` or `/`, no trailing `/`. */
function cleanArchivePath(name: string): string {
  let out = name;
  while (out.startsWith('./')) out = out.slice(2);
  while (out.startsWith('/')) out = out.slice(1);
  return out.replace(/\/+$/u, '');
}

export async function loadArchive(content: Content, input: AsyncIterable<Uint8Array>, options: LoadOptions): Promise<LoadResult> {
  const { source, signal } = options;
  const lease = content.leases.create({ label: `load ${source}` });
  try {
    const metadata = new Map<string, Buffer>();
    const files = new Map<string, BlobInfo>();
    const notATar = (fault: string): StagecraftError => new StagecraftError('ARCHIVE_INVALID', `${source} is not a valid tar archive: ${fault}`, {
      hint: 'the file may be truncated or not an image archive; create it with `stagecraft save` or `docker save`',
    });
    for await (const { header, body } of readTar(input, { invalid: notATar })) {
      signal?.throwIfAborted();
      if (header.type !== 'file') continue;
      const member = { body, size: header.size };
      const path = cleanArchivePath(header.name);
      if (METADATA_FILES.has(path)) {
        metadata.set(path, await collectBytes(member.body, METADATA_LIMIT, path, source));
        continue;
      }
      const blobName = BLOB_PATH_RE.exec(path);
      if (blobName !== null) {
        const digest = parseDigest(`sha256:${blobName[1] ?? ''}`);
        files.set(path, await content.blobs.ingest(member.body, { digest, size: member.size, lease, signal }));
      } else if (path.endsWith('.json') || path.endsWith('layer.tar') || path.endsWith('.tar')) {
        // Classic docker-archive: `<hex>.json` configs and `<id>/layer.tar`, verified below.
        files.set(path, await content.blobs.ingest(member.body, { size: member.size, lease, signal }));
      }
    }
    const indexJson = metadata.get('index.json');
    const manifestJson = metadata.get('manifest.json');
    let result: LoadResult;
    if (indexJson !== undefined && metadata.has('oci-layout')) {
      result = { format: 'oci', images: await loadOci(content, indexJson, options) };
    } else if (manifestJson !== undefined) {
      result = { format: 'docker', images: await loadDocker(content, manifestJson, files, lease, options) };
    } else {
      throw invalid(source, 'the archive has neither index.json with oci-layout (OCI) nor manifest.json (docker-archive)');
    }
    for (const image of result.images) {
      for (const name of image.names) {
        content.references.set(name, { digest: image.manifest.digest, mediaType: image.manifest.mediaType, size: image.manifest.size, platform: image.platform, indexDigest: image.indexDigest });
      }
    }
    return result;
  } finally {
    lease.release();
  }
}

/** Checks that the manifest, its config and all layers are present; returns the config and its digest. */
async function checkComplete(content: Content, manifest: Descriptor, source: string): Promise<{ config: ImageConfig; id: Digest }> {
  let stored;
  try {
    stored = await readStoredImage(content, { digest: manifest.digest, mediaType: manifest.mediaType });
  } catch (error) {
    if (error instanceof StagecraftError && error.code === 'STORE_CORRUPT') throw invalid(source, `image ${manifest.digest} is incomplete: ${error.message}`);
    throw error;
  }
  for (const layer of stored.layers) {
    if (!(await content.blobs.has(layer.digest))) throw invalid(source, `layer ${layer.digest} of image ${manifest.digest} is not in the archive`);
  }
  return { config: stored.config, id: stored.manifest.config.digest };
}

async function loadOci(content: Content, indexJson: Buffer, options: LoadOptions): Promise<LoadedImage[]> {
  const { source } = options;
  const parsed = ociIndexSchema.safeParse(parseJson(indexJson, 'index.json', source));
  if (!parsed.success) throw invalid(source, `index.json is invalid: ${formatIssues(parsed.error)}`);
  const byDigest = new Map<Digest, { names: string[]; manifest: Descriptor; id: Digest; platform: string; indexDigest?: Digest }>();
  for (const entry of parsed.data.manifests) {
    let manifest = entry;
    let indexDigest: Digest | undefined;
    if (entry.mediaType === MEDIA_TYPES.ociIndex || entry.mediaType === MEDIA_TYPES.dockerManifestList) {
      if (!(await content.blobs.has(entry.digest))) throw invalid(source, `index ${entry.digest} named in index.json is not in the archive`);
      const nested = parseManifest(await content.blobs.read(entry.digest), entry.mediaType, { source });
      if (nested.kind !== 'index') throw invalid(source, `${entry.digest} is declared as an index but is a manifest`);
      manifest = selectManifest(nested.index, options.platform, { source });
      indexDigest = entry.digest;
    } else if (entry.mediaType !== MEDIA_TYPES.ociManifest && entry.mediaType !== MEDIA_TYPES.dockerManifest) {
      continue; // not an image (e.g. an artifact); kept in the store only while leased
    }
    const { config, id } = await checkComplete(content, manifest, source);
    const name = nameFromAnnotations(entry.annotations, source);
    const seen = byDigest.get(manifest.digest) ?? { names: [], manifest: { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size }, id, platform: configPlatform(config), ...(indexDigest === undefined ? {} : { indexDigest }) };
    if (name !== undefined && !seen.names.includes(name)) seen.names.push(name);
    byDigest.set(manifest.digest, seen);
  }
  if (byDigest.size === 0) throw invalid(source, 'index.json lists no image');
  return [...byDigest.values()];
}

async function blobCompression(content: Content, digest: Digest): Promise<ArchiveCompression> {
  const handle = await open(content.blobs.blobPath(digest), 'r');
  try {
    const head = Buffer.alloc(COMPRESSION_MAGIC_BYTES);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await handle.close();
  }
}

async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<Digest> {
  const hash = createHash('sha256');
  await pipeline(stream, async (data: AsyncIterable<Uint8Array>) => {
    for await (const chunk of data) hash.update(chunk);
  });
  return parseDigest(`sha256:${hash.digest('hex')}`);
}

async function loadDocker(content: Content, manifestJson: Buffer, files: Map<string, BlobInfo>, lease: Lease, options: LoadOptions): Promise<LoadedImage[]> {
  const { source } = options;
  const parsed = dockerManifestJsonSchema.safeParse(parseJson(manifestJson, 'manifest.json', source));
  if (!parsed.success) throw invalid(source, `manifest.json is invalid: ${formatIssues(parsed.error)}`);
  if (parsed.data.length === 0) throw invalid(source, 'manifest.json lists no image');
  const out: LoadedImage[] = [];
  for (const entry of parsed.data) {
    const configFile = files.get(cleanArchivePath(entry.Config));
    if (configFile === undefined) throw invalid(source, `config ${entry.Config} named in manifest.json is not in the archive`);
    const named = HEX_IN_NAME_RE.exec(cleanArchivePath(entry.Config));
    if (named !== null && `sha256:${named[1] ?? ''}` !== configFile.digest) {
      throw new StagecraftError('DIGEST_MISMATCH', `${source}: config ${entry.Config} hashes to ${configFile.digest}`, { hint: 'the archive is damaged; nothing was named' });
    }
    const config = parseImageConfig(await content.blobs.read(configFile.digest), { source: `${source} (${entry.Config})` });
    if (config.rootfs.diff_ids.length !== entry.Layers.length) {
      throw invalid(source, `image ${entry.Config} lists ${entry.Layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`);
    }
    const layers: Descriptor[] = [];
    for (const [i, layerPath] of entry.Layers.entries()) {
      const file = files.get(cleanArchivePath(layerPath));
      if (file === undefined) throw invalid(source, `layer ${layerPath} named in manifest.json is not in the archive`);
      const diffId = config.rootfs.diff_ids[i];
      const compression = await blobCompression(content, file.digest);
      const actual = compression === 'none' ? file.digest : await sha256Of((await decompressLayer(await content.blobs.open(file.digest))).tar);
      if (actual !== diffId) {
        throw new StagecraftError('DIGEST_MISMATCH', `${source}: layer ${layerPath} has diff ID ${actual}, but the config says ${diffId ?? '(none)'}`, {
          hint: 'the archive is damaged or its layers do not belong to its config; nothing was named',
        });
      }
      const mediaType = compression === 'gzip' ? MEDIA_TYPES.ociLayerGzip : compression === 'zstd' ? MEDIA_TYPES.ociLayerZstd : MEDIA_TYPES.ociLayer;
      layers.push({ mediaType, digest: file.digest, size: file.size });
    }
    const manifestBytes = canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: configFile.digest, size: configFile.size },
      layers,
    });
    const manifestBlob = await content.blobs.put(manifestBytes, { lease });
    const names: string[] = [];
    for (const tag of entry.RepoTags ?? []) {
      let name: string;
      try {
        name = formatImageRef(parseImageRef(tag));
      } catch (error) {
        throw invalid(source, `manifest.json has an invalid RepoTag ${JSON.stringify(tag)}`, (error as StagecraftError).hint);
      }
      if (!names.includes(name)) names.push(name);
    }
    out.push({ names, manifest: { mediaType: MEDIA_TYPES.ociManifest, digest: manifestBlob.digest, size: manifestBlob.size }, id: configFile.digest, platform: configPlatform(config) });
  }
  return out;
}

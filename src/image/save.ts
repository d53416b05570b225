/**
 * Image archives for `save`: an OCI archive (a tar of an OCI image layout, as `skopeo copy
 * oci-archive:` and `docker load` (25+) read) and a docker-archive (`manifest.json` + `repositories` +
 * config + uncompressed layer tars, as `docker save` writes and `docker load` reads). Output is
 * deterministic: same images, same bytes.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { StagecraftError, canonicalJson, digestHex, familiarName, parseImageRef, type Digest } from '../core/index.js';
import { CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION, childrenOf, mayHaveChildren, type Content, type Lease } from '../content/index.js';
import { MEDIA_TYPES, ociIndexSchema, type Descriptor } from '../oci/index.js';
import { writeFileAtomic } from '../util/atomic.js';
import { decompressLayer, makeHeader, writeTar, type TarWriteEntry } from '../snapshot/index.js';
import { readStoredImage, type StoredImage } from './image.js';

/** One image to save, under the names it is saved with. */
export interface SaveImage {
  /** Full normalised references (`docker.io/library/busybox:latest`); may be empty. */
  readonly names: readonly string[];
  readonly descriptor: Descriptor;
}

export interface SaveOptions {
  readonly signal?: AbortSignal | undefined;
}

/** Archive members are written as `docker save` does: mode 0644 files and 0755 directories, owned by 0:0, mtime 0. */
function blobEntry(content: Content, digest: Digest, size: number): TarWriteEntry {
  return { header: makeHeader({ type: 'file', name: `blobs/sha256/${digestHex(digest)}`, size }), body: () => content.blobs.open(digest) };
}

function jsonEntry(name: string, value: unknown): TarWriteEntry {
  const bytes = Buffer.from(typeof value === 'string' ? value : `${JSON.stringify(value)}\n`);
  return { header: makeHeader({ type: 'file', name, size: bytes.length }), body: () => [bytes] };
}

function dirEntry(name: string): TarWriteEntry {
  return { header: makeHeader({ type: 'dir', name, mode: 0o755 }) };
}

/** Every blob reachable from `root` that is present (index children of other platforms may be absent). */
async function reachable(content: Content, root: Descriptor, signal: AbortSignal | undefined): Promise<Map<Digest, number>> {
  const out = new Map<Digest, number>();
  const queue: { digest: Digest; mediaType: string | undefined; required: boolean }[] = [{ digest: root.digest, mediaType: root.mediaType, required: true }];
  while (queue.length > 0) {
    signal?.throwIfAborted();
    const next = queue.shift();
    if (next === undefined || out.has(next.digest)) continue;
    const info = await content.blobs.info(next.digest);
    if (info === undefined) {
      if (next.required) {
        throw new StagecraftError('STORE_CORRUPT', `blob ${next.digest} of ${root.digest} is missing from the content store`, {
          hint: 'remove the image (stagecraft rmi) and pull or load it again',
        });
      }
      continue;
    }
    out.set(next.digest, info.size);
    if (!mayHaveChildren(next.mediaType)) continue;
    const isIndex = next.mediaType === MEDIA_TYPES.ociIndex || next.mediaType === MEDIA_TYPES.dockerManifestList;
    for (const child of childrenOf(await content.blobs.read(next.digest))) {
      queue.push({ digest: child.digest, mediaType: child.mediaType, required: !isIndex });
    }
  }
  return out;
}

/**
 * What an OCI image layout holding `images` lists: each image appears in index.json once per name
 * (annotated with the full name as both `org.opencontainers.image.ref.name` and
 * `io.containerd.image.name`), or once without annotations if it has no name; and every blob.
 */
async function ociLayout(content: Content, images: readonly SaveImage[], signal: AbortSignal | undefined): Promise<{ manifests: Descriptor[]; blobs: [Digest, number][] }> {
  const blobs = new Map<Digest, number>();
  const manifests: Descriptor[] = [];
  for (const image of images) {
    for (const [digest, size] of await reachable(content, image.descriptor, signal)) blobs.set(digest, size);
    const base = { mediaType: image.descriptor.mediaType, digest: image.descriptor.digest, size: image.descriptor.size, ...(image.descriptor.platform === undefined ? {} : { platform: image.descriptor.platform }) };
    // Annotations of the descriptor itself (`--annotation manifest-descriptor:…`) come first.
    const own = image.descriptor.annotations ?? {};
    if (image.names.length === 0) manifests.push(Object.keys(own).length > 0 ? { ...base, annotations: { ...own } } : base);
    for (const name of image.names) manifests.push({ ...base, annotations: { ...own, [CONTAINERD_NAME_ANNOTATION]: name, [REF_NAME_ANNOTATION]: name } });
  }
  return { manifests, blobs: [...blobs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) };
}

/** The tar stream of an OCI archive holding `images` (an OCI image layout, see `ociLayout`). */
export async function* writeOciArchive(content: Content, images: readonly SaveImage[], options: SaveOptions = {}): AsyncGenerator<Buffer> {
  const { manifests, blobs } = await ociLayout(content, images, options.signal);
  const entries: TarWriteEntry[] = [
    jsonEntry('oci-layout', '{"imageLayoutVersion":"1.0.0"}'),
    jsonEntry('index.json', { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests }),
    dirEntry('blobs'),
    dirEntry('blobs/sha256'),
    ...blobs.map(([digest, size]) => blobEntry(content, digest, size)),
  ];
  yield* writeTar(entries, options.signal);
}

/**
 * `-o type=oci,tar=false`: the OCI image layout written into the directory `dest` (made if missing),
 * as buildx does: blobs are added (one already there with its size is kept), index.json entries of the
 * same names are replaced and the others kept, index.json is replaced atomically.
 */
export async function writeOciLayoutDir(content: Content, images: readonly SaveImage[], dest: string, options: SaveOptions = {}): Promise<void> {
  const { manifests, blobs } = await ociLayout(content, images, options.signal);
  const blobDir = join(dest, 'blobs', 'sha256');
  await mkdir(blobDir, { recursive: true });
  for (const [digest, size] of blobs) {
    options.signal?.throwIfAborted();
    const path = join(blobDir, digestHex(digest));
    const existing = await lstat(path).catch(() => undefined);
    if (existing?.isFile() === true && existing.size === size) continue;
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await pipeline(await content.blobs.open(digest), createWriteStream(temp, { flags: 'wx' }), { signal: options.signal });
      await rename(temp, path);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }
  let kept: Descriptor[] = [];
  const indexPath = join(dest, 'index.json');
  const existing = await readFile(indexPath).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  });
  if (existing !== undefined) {
    let parsed;
    try {
      parsed = ociIndexSchema.safeParse(JSON.parse(existing.toString('utf8')));
    } catch {
      parsed = undefined;
    }
    if (parsed?.success !== true) {
      throw new StagecraftError('ARCHIVE_INVALID', `${indexPath} is not an OCI image index`, { hint: 'write the layout to a new directory, or remove the damaged index.json' });
    }
    const names = new Set(manifests.flatMap((m) => (m.annotations?.[REF_NAME_ANNOTATION] !== undefined ? [m.annotations[REF_NAME_ANNOTATION]] : [])));
    kept = parsed.data.manifests.filter((m) => {
      const name = m.annotations?.[REF_NAME_ANNOTATION];
      return name === undefined ? !manifests.some((n) => n.digest === m.digest && n.annotations === undefined) : !names.has(name);
    });
  }
  await writeFileAtomic(join(dest, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFileAtomic(indexPath, `${JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [...kept, ...manifests] })}\n`);
}

/** `busybox:latest` etc.; names pinned only by digest cannot be a RepoTag and are left out. */
function repoTags(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    const ref = parseImageRef(name, { defaultTag: false });
    if (ref.tag !== undefined) out.push(`${familiarName(ref)}:${ref.tag}`);
  }
  return out;
}

interface DockerLayer {
  readonly diffId: Digest;
  readonly size: number;
}

/**
 * Makes sure the uncompressed tar of each layer is in the store (keyed by its diff ID, verified on
 * ingest), so the archive can declare exact sizes before streaming. The uncompressed copies are held
 * by `lease` and are collected later like any unreferenced blob.
 */
async function uncompressedLayers(content: Content, image: StoredImage, lease: Lease, signal: AbortSignal | undefined): Promise<DockerLayer[]> {
  const out: DockerLayer[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const diffId = image.config.rootfs.diff_ids[i];
    if (diffId === undefined) throw new Error('diff_ids checked by readStoredImage');
    if (layer.digest === diffId) {
      content.blobs.touch(diffId, lease);
      out.push({ diffId, size: layer.size });
      continue;
    }
    if (content.blobs.touch(diffId, lease)) {
      out.push({ diffId, size: (await content.blobs.info(diffId))?.size ?? 0 });
      continue;
    }
    // A damaged blob fails as STORE_CORRUPT naming it (not as zlib's "incorrect data check").
    const blob = await content.blobs.reading(layer.digest, async () => {
      const { tar } = await decompressLayer(await content.blobs.open(layer.digest));
      return content.blobs.ingest(tar, { digest: diffId, lease, signal });
    });
    out.push({ diffId, size: blob.size });
  }
  return out;
}

/**
 * The tar stream of a docker-archive holding `images` (single-platform images only). Layers are
 * written uncompressed under `blobs/sha256/<diffID hex>`, the config under `blobs/sha256/<hex>`,
 * which both `docker load` and skopeo's docker-archive transport accept.
 */
export async function* writeDockerArchive(content: Content, images: readonly SaveImage[], options: SaveOptions = {}): AsyncGenerator<Buffer> {
  const lease = content.leases.create({ label: 'save docker-archive' });
  try {
    const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const blobs = new Map<Digest, number>();
    for (const image of images) {
      const stored = await readStoredImage(content, { digest: image.descriptor.digest, mediaType: image.descriptor.mediaType, name: image.names[0] ?? image.descriptor.digest });
      const configDigest = stored.manifest.config.digest;
      lease.add(configDigest);
      blobs.set(configDigest, stored.configBytes.length);
      const layers = await uncompressedLayers(content, stored, lease, options.signal);
      for (const layer of layers) blobs.set(layer.diffId, layer.size);
      const tags = repoTags(image.names);
      manifest.push({ Config: `blobs/sha256/${digestHex(configDigest)}`, RepoTags: tags, Layers: layers.map((l) => `blobs/sha256/${digestHex(l.diffId)}`) });
      const top = layers.at(-1);
      for (const tag of tags) {
        const colon = tag.lastIndexOf(':');
        const repo = tag.slice(0, colon);
        repositories[repo] = { ...repositories[repo], [tag.slice(colon + 1)]: top === undefined ? digestHex(configDigest) : digestHex(top.diffId) };
      }
    }
    const entries: TarWriteEntry[] = [
      dirEntry('blobs'),
      dirEntry('blobs/sha256'),
      ...[...blobs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([digest, size]) => blobEntry(content, digest, size)),
      jsonEntry('manifest.json', manifest),
      jsonEntry('repositories', canonicalJson(repositories)),
    ];
    yield* writeTar(entries, options.signal);
  } finally {
    lease.release();
  }
}

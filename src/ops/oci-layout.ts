/**
 * `--build-context name=oci-layout://DIR[:TAG][@DIGEST]`: an image in an OCI image layout directory
 * on this machine (as `-o type=oci,tar=false` writes). The image for the build platform is copied into
 * the content store, every blob verified against its digest and size, and then used as any base
 * image pinned by digest. Tag lookup follows buildx: the index entry whose
 * `org.opencontainers.image.ref.name` is the tag (or a full name with that tag); without a tag or a
 * digest, the only image of the layout.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError, digestHex, formatPlatform, parseImageRef, type Digest, type Platform } from '../core/index.js';
import { CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION, type Content, type Lease } from '../content/index.js';
import { formatIssues, ociIndexSchema, parseImageConfig, parseManifest, selectManifest, type Descriptor } from '../oci/index.js';

export interface OciLayoutSpec {
  readonly dir: string;
  readonly tag?: string | undefined;
  readonly digest?: Digest | undefined;
}

/** index.json and manifests are read whole: far above any real one's size. */
const DOCUMENT_LIMIT = 16 << 20;

function layoutError(what: string, message: string, hint = 'write the layout with `stagecraft build -o type=oci,tar=false,dest=DIR` (or `docker buildx build`), or give its tag or digest'): StagecraftError {
  return new StagecraftError('ARCHIVE_INVALID', `${what}: ${message}`, { hint });
}

async function readBounded(path: string, what: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new StagecraftError('FILE_NOT_FOUND', `${what}: ${path} does not exist`, { hint: 'check the path after oci-layout://: it must be an OCI image layout directory (with index.json and blobs/)' });
    throw error;
  }
  try {
    const size = (await handle.stat()).size;
    if (size > DOCUMENT_LIMIT) throw layoutError(what, `${path} is larger than ${DOCUMENT_LIMIT} bytes`);
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** Copies a blob of the layout into the store, verified against the descriptor's digest and size. */
async function ingestBlob(content: Content, dir: string, descriptor: { digest: Digest; size: number }, lease: Lease, what: string, signal: AbortSignal | undefined): Promise<void> {
  if (await content.blobs.has(descriptor.digest)) {
    lease.add(descriptor.digest);
    return;
  }
  const path = join(dir, 'blobs', 'sha256', digestHex(descriptor.digest));
  try {
    await content.blobs.ingest(createReadStream(path), { digest: descriptor.digest, size: descriptor.size, lease, signal });
  } catch (error) {
    if (error instanceof StagecraftError && error.code === 'DIGEST_MISMATCH') {
      throw new StagecraftError('DIGEST_MISMATCH', `${what}: ${path} does not match its digest and size (${error.message}); nothing of it was used`, {
        hint: 'the layout is damaged or was changed after it was written: write it again', cause: error,
      });
    }
    throw error;
  }
}

async function readDocument(content: Content, dir: string, descriptor: Descriptor, lease: Lease, what: string, signal: AbortSignal | undefined): Promise<Buffer> {
  if (descriptor.size > DOCUMENT_LIMIT) throw layoutError(what, `${descriptor.digest} is ${descriptor.size} bytes, larger than a manifest may be`);
  try {
    await ingestBlob(content, dir, descriptor, lease, what, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw layoutError(what, `blob ${descriptor.digest} is missing from ${join(dir, 'blobs', 'sha256')}`);
    throw error;
  }
  return content.blobs.read(descriptor.digest);
}

function matchesTag(descriptor: Descriptor, tag: string): boolean {
  for (const key of [REF_NAME_ANNOTATION, CONTAINERD_NAME_ANNOTATION]) {
    const value = descriptor.annotations?.[key];
    if (value === undefined) continue;
    if (value === tag) return true;
    try {
      if (parseImageRef(value, { defaultTag: false }).tag === tag) return true;
    } catch {
      // a bare tag that is not this one
    }
  }
  return false;
}

/**
 * Copies the image of the layout for `platform` into the store; returns its manifest digest. The
 * caller holds `lease` until the build has used the blobs.
 */
export async function importOciLayout(content: Content, spec: OciLayoutSpec, platform: Platform, what: string, lease: Lease, signal?: AbortSignal): Promise<Digest> {
  const indexBytes = await readBounded(join(spec.dir, 'index.json'), what);
  let indexJson: unknown;
  try {
    indexJson = JSON.parse(indexBytes.toString('utf8'));
  } catch (error) {
    throw layoutError(what, `index.json is not valid JSON: ${(error as Error).message}`);
  }
  const parsedIndex = ociIndexSchema.safeParse(indexJson);
  if (!parsedIndex.success) throw layoutError(what, `index.json is not an OCI image index: ${formatIssues(parsedIndex.error)}`);
  const entries = parsedIndex.data.manifests;
  let chosen: Descriptor | undefined;
  if (spec.digest !== undefined) {
    chosen = entries.find((d) => d.digest === spec.digest) ?? { mediaType: '', digest: spec.digest, size: -1 };
  } else if (spec.tag !== undefined) {
    chosen = entries.find((d) => matchesTag(d, spec.tag ?? ''));
    if (chosen === undefined) {
      const tags = entries.flatMap((d) => (d.annotations?.[REF_NAME_ANNOTATION] !== undefined ? [d.annotations[REF_NAME_ANNOTATION]] : []));
      throw new StagecraftError('NOT_FOUND', `${what}: the layout has no image tagged ${JSON.stringify(spec.tag)}`, { hint: tags.length > 0 ? `it has: ${tags.join(', ')}` : 'its index.json names no image; give the digest with oci-layout://DIR@sha256:…' });
    }
  } else {
    chosen = entries.length === 1 ? entries[0] : entries.find((d) => matchesTag(d, 'latest'));
    if (chosen === undefined) {
      throw new StagecraftError('NOT_FOUND', `${what}: the layout holds ${entries.length} images and none is tagged "latest"`, { hint: 'choose one with oci-layout://DIR:TAG or oci-layout://DIR@sha256:…' });
    }
  }
  if (chosen.size === -1) {
    // A digest the index does not list (e.g. a manifest inside a nested index): its size is what the file has.
    const path = join(spec.dir, 'blobs', 'sha256', digestHex(chosen.digest));
    const bytes = await readBounded(path, what).catch((error: unknown) => {
      if (error instanceof StagecraftError && error.code === 'FILE_NOT_FOUND') throw new StagecraftError('NOT_FOUND', `${what}: the layout has no blob ${chosen?.digest ?? ''}`, { hint: 'check the digest after @' });
      throw error;
    });
    chosen = { ...chosen, size: bytes.length };
  }
  let parsed = parseManifest(await readDocument(content, spec.dir, chosen, lease, what, signal), chosen.mediaType === '' ? undefined : chosen.mediaType, { source: what });
  if (parsed.kind === 'index') {
    const entry = selectManifest(parsed.index, platform, { source: what });
    parsed = parseManifest(await readDocument(content, spec.dir, entry, lease, what, signal), entry.mediaType, { source: what, descriptorMediaType: entry.mediaType });
    if (parsed.kind !== 'manifest') throw layoutError(what, `${entry.digest} is not an image manifest`);
  }
  const manifest = parsed.manifest;
  const config = parseImageConfig(await readDocument(content, spec.dir, manifest.config, lease, what, signal), { source: what });
  const have = formatPlatform({ os: config.os, architecture: config.architecture, variant: config.variant });
  if (config.os !== platform.os || config.architecture !== platform.architecture) {
    throw new StagecraftError('PLATFORM_MISMATCH', `${what}: the image is for ${have}, the build is for ${formatPlatform(platform)}`, { hint: 'build the layout for this platform, or choose another image of it' });
  }
  for (const layer of manifest.layers) {
    try {
      await ingestBlob(content, spec.dir, layer, lease, what, signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw layoutError(what, `layer ${layer.digest} is missing from ${join(spec.dir, 'blobs', 'sha256')}`);
      throw error;
    }
  }
  return parsed.digest;
}

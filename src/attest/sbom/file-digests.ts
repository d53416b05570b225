/**
 * The sha256 of each file a package was found from, so an SPDX document can list it as a file
 * (SPDX requires a checksum on every file element). Each distinct file is read once, in chunks.
 */
import { createHash } from 'node:crypto';
import type { Digest } from '../../core/index.js';
import type { SbomResult } from './catalog.js';
import type { ScanFs } from './types.js';

const CHUNK = 1 << 20;
/** Larger files keep their path and layer only (a multi-GB blob is not hashed for an SBOM). */
const MAX_HASHED_BYTES = 512 * 1024 * 1024;

async function hashChunks(size: number, read: (position: number, length: number) => Promise<Buffer | undefined>, signal: AbortSignal): Promise<Digest | undefined> {
  if (size > MAX_HASHED_BYTES) return undefined;
  const hash = createHash('sha256');
  for (let position = 0; position < size; position += CHUNK) {
    signal.throwIfAborted();
    const want = Math.min(CHUNK, size - position);
    const chunk = await read(position, want);
    // Shorter than the walk said: the file changed under the scan; no digest rather than a wrong one.
    if (chunk === undefined || chunk.length < want) return undefined;
    hash.update(chunk);
  }
  return `sha256:${hash.digest('hex')}` as Digest;
}

/** Opens the file once where the ScanFs can (`withFile`), else reads it by ranges. */
async function fileDigest(fs: ScanFs, path: string, size: number | undefined, signal: AbortSignal): Promise<Digest | undefined> {
  if (fs.withFile !== undefined) return fs.withFile(path, (file) => hashChunks(file.size, (position, length) => file.read(position, length), signal));
  if (size === undefined) return undefined;
  return hashChunks(size, (position, length) => fs.readRange(path, position, length), signal);
}

/** `result` with `digest` set on every location that is a regular file of `fs`. */
export async function withFileDigests(fs: ScanFs, result: SbomResult, signal: AbortSignal): Promise<SbomResult> {
  const sizes = new Map((await fs.entries()).filter((e) => e.type === 'file').map((e) => [e.path, e.size]));
  const digests = new Map<string, Digest | undefined>();
  for (const pkg of result.packages) {
    for (const location of pkg.locations) {
      if (digests.has(location.path) || !sizes.has(location.path)) continue;
      digests.set(location.path, await fileDigest(fs, location.path, sizes.get(location.path), signal));
    }
  }
  return {
    ...result,
    packages: result.packages.map((pkg) => ({
      ...pkg,
      locations: pkg.locations.map((location) => {
        const digest = digests.get(location.path);
        return digest === undefined ? location : { ...location, digest };
      }),
    })),
  };
}

/**
 * `build --locked` / `--offline`, and verify's pinned rebuilds: the pins a build resolves its inputs
 * through, and where in the Dockerfile an input is written (for the error that names its line).
 */
import { StagecraftError, formatImageRef, formatPlatform, parseImageRef, type Digest, type SourceLocation } from '../core/index.js';
import type { Vertex } from '../plan/index.js';
import { checkLockedDockerfile, lockImagePins, lockUrlPins, type BaseImagePins, type Lockfile, type UrlPins } from '../ops/index.js';

/** The inputs a build must use: a lock (`--locked`), or pins without `locked` (verify's provenance). */
export interface BuildPins {
  /** The lock and its path (named in errors); with it every input must be pinned. */
  readonly lock?: { readonly lock: Lockfile; readonly path: string } | undefined;
  /** Base images by normalised name and platform → digest (not exhaustive: unknown names resolve as usual). */
  readonly images?: ReadonlyMap<string, { readonly digest: Digest; readonly manifest?: Digest | undefined }> | undefined;
}

/**
 * The first Dockerfile line (FROM, COPY, ADD or RUN) that names `what`: the line an unpinned input
 * comes from. Continuation lines count as their instruction's.
 */
export function locateInput(dockerfile: { readonly path: string; readonly text: string }, what: string): SourceLocation | undefined {
  const lines = dockerfile.text.split('\n');
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const previous = i > 0 ? lines[i - 1] ?? '' : '';
    if (!/[\\`]\s*$/u.test(previous)) start = i;
    if (line.includes(what)) {
      const first = (lines[start] ?? '').trimStart();
      if (/^(from|copy|add|run)\b/iu.test(first)) {
        return { file: dockerfile.path, range: { start: { line: start + 1, column: 0 }, end: { line: i + 1, column: line.length } } };
      }
    }
  }
  return undefined;
}

/** The base-image and URL pins of a build (none without a lock or pins); fails if the lock is for another Dockerfile text. */
export function buildPins(pins: BuildPins | undefined, dockerfile: { readonly path: string; readonly text: string }): { readonly images?: BaseImagePins | undefined; readonly urls?: UrlPins | undefined } {
  if (pins?.lock !== undefined) {
    const { lock, path } = pins.lock;
    const locate = (what: string): SourceLocation | undefined => locateInput(dockerfile, what);
    return { images: lockImagePins(lock, path, locate), urls: lockUrlPins(lock, path, locate) };
  }
  const images = pins?.images;
  if (images === undefined) return {};
  return {
    images: {
      locked: false,
      lookup: (name, platform) => images.get(`${name}|${formatPlatform(platform)}`),
      missing: (ref) => new StagecraftError('NOT_FOUND', `image ${ref} is not pinned`),
    },
  };
}

/**
 * With a lock, after convert: every image the plan names (COPY --from=<image>, RUN --mount=from=…;
 * FROM images were pinned while converting) and every ADD URL without a checksum must be in the lock
 * (the error names its line), then the Dockerfile must be the text the lock was written for.
 */
export function checkLockDockerfile(pins: BuildPins | undefined, dockerfile: { readonly path: string; readonly text: string }, vertices: readonly Vertex[]): void {
  if (pins?.lock === undefined) return;
  const { images, urls } = buildPins(pins, dockerfile);
  for (const vertex of vertices) {
    const op = vertex.op;
    if (op.type === 'image' && images !== undefined) {
      const ref = parseImageRef(op.ref);
      if (ref.digest === undefined && images.lookup(formatImageRef(ref), op.platform) === undefined) throw images.missing(op.ref, op.platform);
    }
    if (op.type === 'http' && urls !== undefined && op.checksum === undefined && urls.lookup(op.url) === undefined) throw urls.missing(op.url);
  }
  checkLockedDockerfile(pins.lock.lock, pins.lock.path, dockerfile);
}

/**
 * `stagecraft.lock`: the inputs of a Dockerfile pinned — every base image, `COPY --from=<image>` and
 * `RUN --mount=from=<image>` resolved to a digest per platform, every `ADD <url>` with the sha256 of
 * its content, and the digest of the Dockerfile they were resolved for. JSON, versioned, keys sorted,
 * entries sorted, so the same inputs give the same bytes. `build --locked` resolves through it only.
 */
import { z } from 'zod';
import { StagecraftError, canonicalJson, formatImageRef, formatPlatform, parseDigest, parseImageRef, sha256Digest, type Digest, type Platform, type SourceLocation } from '../core/index.js';
import { redactUrl } from '../registry/index.js';
import type { BaseImagePins } from './base-images.js';

export const LOCKFILE_NAME = 'stagecraft.lock';
export const LOCKFILE_VERSION = 1;
/** A lock is a few KiB; anything much larger is not one. */
export const MAX_LOCKFILE_BYTES = 4 * 1024 * 1024;

const digestText = z.string().regex(/^sha256:[a-f0-9]{64}$/u, 'a sha256 digest');

const lockImageSchema = z.strictObject({
  /** The normalised name (`docker.io/library/busybox:latest`): what a reference written in any spelling is looked up by. */
  name: z.string().min(1),
  platform: z.string().min(1),
  /** What the name resolved to: the index digest of a multi-platform image, else the manifest's. */
  digest: digestText,
  /** The platform's image manifest. */
  manifest: digestText,
});

const lockUrlSchema = z.strictObject({ url: z.string().min(1), digest: digestText });

export const lockfileSchema = z.strictObject({
  version: z.literal(LOCKFILE_VERSION),
  dockerfile: z.strictObject({ path: z.string(), digest: digestText }),
  images: z.array(lockImageSchema),
  urls: z.array(lockUrlSchema),
});

export type Lockfile = z.infer<typeof lockfileSchema>;
export type LockImage = z.infer<typeof lockImageSchema>;
export type LockUrl = z.infer<typeof lockUrlSchema>;

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** A lock from what a build resolved: entries deduplicated and sorted. */
export function makeLockfile(input: {
  readonly dockerfile: { readonly path: string; readonly text: string };
  readonly images: readonly { readonly ref: string; readonly platform: Platform; readonly digest: Digest; readonly manifestDigest: Digest }[];
  readonly urls: readonly { readonly url: string; readonly digest: string }[];
}): Lockfile {
  const images = new Map<string, LockImage>();
  for (const image of input.images) {
    const ref = parseImageRef(image.ref);
    // A reference the Dockerfile pinned itself needs no lock entry.
    if (ref.digest !== undefined) continue;
    const entry = { name: formatImageRef(ref), platform: formatPlatform(image.platform), digest: image.digest, manifest: image.manifestDigest };
    images.set(`${entry.name}|${entry.platform}`, entry);
  }
  const urls = new Map<string, LockUrl>();
  // Credentials in a URL never reach the lock (it is committed); lookups use the same redacted form.
  for (const { url, digest } of input.urls) if (digest.startsWith('sha256:')) urls.set(redactUrl(url), { url: redactUrl(url), digest });
  return {
    version: LOCKFILE_VERSION,
    dockerfile: { path: input.dockerfile.path, digest: sha256Digest(input.dockerfile.text) },
    images: [...images.values()].sort((a, b) => compare(`${a.name}|${a.platform}`, `${b.name}|${b.platform}`)),
    urls: [...urls.values()].sort((a, b) => compare(a.url, b.url)),
  };
}

/** The lock's bytes: canonical (sorted keys), indented for review, newline-terminated. */
export function serializeLockfile(lock: Lockfile): string {
  return `${JSON.stringify(JSON.parse(canonicalJson(lock)), null, 2)}\n`;
}

/** Parses a lock file's bytes; `path` names it in errors. */
export function parseLockfile(bytes: Uint8Array, path: string): Lockfile {
  const fix = `run \`stagecraft lock\` to write it again`;
  if (bytes.length > MAX_LOCKFILE_BYTES) throw new StagecraftError('LOCK_MISMATCH', `${path} is ${bytes.length} bytes, more than a lock file can be (${MAX_LOCKFILE_BYTES})`, { hint: fix });
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new StagecraftError('LOCK_MISMATCH', `${path} is not JSON`, { hint: fix, cause });
  }
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version !== LOCKFILE_VERSION) {
    throw new StagecraftError('LOCK_MISMATCH', `${path} has lock version ${version}; this stagecraft reads version ${LOCKFILE_VERSION}`, { hint: fix });
  }
  const parsed = lockfileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new StagecraftError('LOCK_MISMATCH', `${path} is not a valid lock file: ${issue === undefined ? 'invalid' : `${issue.path.join('.') || '(top)'}: ${issue.message}`}`, { hint: fix });
  }
  return parsed.data;
}

/** Fails unless the lock was written for this Dockerfile text. */
export function checkLockedDockerfile(lock: Lockfile, lockPath: string, dockerfile: { readonly path: string; readonly text: string }): void {
  const digest = sha256Digest(dockerfile.text);
  if (digest === lock.dockerfile.digest) return;
  throw new StagecraftError('LOCK_MISMATCH', `${dockerfile.path} changed since ${lockPath} was written (its digest is ${digest}, the lock's ${lock.dockerfile.digest})`, {
    hint: `review the change, then run \`stagecraft lock\` to pin its inputs again`,
  });
}

/** Where a pinned input appears in the Dockerfile, for the error that names it. */
export type LocateInput = (what: string) => SourceLocation | undefined;

function lockError(message: string, lockPath: string, at: SourceLocation | undefined): StagecraftError {
  const where = at === undefined ? '' : `${at.file}:${at.range.start.line}: `;
  return new StagecraftError('LOCK_MISMATCH', `${where}${message}`, {
    hint: `run \`stagecraft lock\` to pin the Dockerfile's inputs again (${lockPath}), then build with --locked`,
    ...(at === undefined ? {} : { location: at }),
  });
}

/** The base-image pins of a lock (`locked`: a name it does not hold is an error naming its line). */
export function lockImagePins(lock: Lockfile, lockPath: string, locate: LocateInput): BaseImagePins {
  const byKey = new Map(lock.images.map((image) => [`${image.name}|${image.platform}`, { digest: parseDigest(image.digest), manifest: parseDigest(image.manifest) }]));
  return {
    locked: true,
    lookup: (name, platform) => byKey.get(`${name}|${formatPlatform(platform)}`),
    missing: (ref, platform) => lockError(`image ${ref} (${formatPlatform(platform)}) is not in ${lockPath}`, lockPath, locate(ref)),
  };
}

/** The URL pins of a lock: url → sha256 of its content. */
export interface UrlPins {
  lookup(url: string): string | undefined;
  readonly locked: boolean;
  missing(url: string): StagecraftError;
}

export function lockUrlPins(lock: Lockfile, lockPath: string, locate: LocateInput): UrlPins {
  const byUrl = new Map(lock.urls.map((entry) => [entry.url, entry.digest]));
  return {
    locked: true,
    lookup: (url) => byUrl.get(redactUrl(url)),
    missing: (url) => lockError(`ADD ${url} is not in ${lockPath}`, lockPath, locate(url)),
  };
}

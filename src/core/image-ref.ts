import { isDigest, type Digest } from './digest.js';
import { StagecraftError } from './errors.js';

declare const imageRefBrand: unique symbol;

/**
 * A fully-qualified image reference, normalized exactly as Docker's distribution/reference
 * `ParseNormalizedNamed` does: `busybox` → domain `docker.io`, path `library/busybox`. Made only by
 * `parseImageRef` (and the `with…` helpers), so inside `src/` nothing re-validates it.
 */
export type ImageRef = {
  /** Registry host, with port when given: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`, `a/b`. */
  readonly path: string;
  readonly tag?: string | undefined;
  readonly digest?: Digest | undefined;
} & { readonly [imageRefBrand]: true };

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

// The grammar of distribution/reference (reference.go), written as regular expressions.
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const DOMAIN_NAME_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6_ADDRESS = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN_NAME = `${DOMAIN_NAME_COMPONENT}(?:\\.${DOMAIN_NAME_COMPONENT})*`;
const HOST = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})`;
const DOMAIN_AND_PORT = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const NAME = `(?:(${DOMAIN_AND_PORT})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)`;
const REFERENCE_RE = new RegExp(`^${NAME}(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

const FORMAT_HINT = 'a reference is [registry[:port]/]repository[:tag][@sha256:digest], e.g. busybox:1.36 or localhost:5000/team/app@sha256:…';

function invalid(text: string, reason: string, hint: string = FORMAT_HINT): StagecraftError {
  return new StagecraftError('INVALID_REFERENCE', `invalid reference ${JSON.stringify(text)}: ${reason}`, { hint });
}

/**
 * Splits off the registry domain like Docker: the first path component is a domain only if it
 * contains `.` or `:`, is `localhost`, or has upper-case letters (repository paths cannot).
 */
function splitDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  let domain: string;
  let remainder: string;
  const first = slash === -1 ? '' : name.slice(0, slash);
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes('/')) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/** `Foo/Bar:Tag@sha256:…` → `foo/bar:Tag@sha256:…`: lower-cases the name, keeps tag and digest. */
function lowercaseName(text: string): string {
  const at = text.indexOf('@');
  const beforeDigest = at === -1 ? text : text.slice(0, at);
  const colon = beforeDigest.lastIndexOf(':');
  const tagStart = colon > beforeDigest.lastIndexOf('/') ? colon : beforeDigest.length;
  return beforeDigest.slice(0, tagStart).toLowerCase() + text.slice(tagStart);
}

export interface ParseImageRefOptions {
  /** Add tag `latest` when the reference has neither tag nor digest (Docker's TagNameOnly). Default true. */
  readonly defaultTag?: boolean | undefined;
}

/**
 * Parses and normalizes an image reference as `docker pull` does. Errors are INVALID_REFERENCE with
 * the reason (upper case, 64-hex id, bad tag/digest, too long) and the expected form.
 */
export function parseImageRef(text: string, options: ParseImageRefOptions = {}): ImageRef {
  if (text === '') throw invalid(text, 'repository name must have at least one component');
  if (IDENTIFIER_RE.test(text)) {
    throw invalid(text, 'cannot specify 64-byte hexadecimal strings as a repository name', 'to refer to content by digest write repository@sha256:<hex>');
  }
  const { domain, remainder } = splitDomain(text);
  const colon = remainder.search(/[:@]/);
  const remoteName = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remoteName.toLowerCase() !== remoteName) {
    throw invalid(text, `repository name (${remoteName}) must be lowercase`, `write ${JSON.stringify(lowercaseName(text))} (tags may keep upper case)`);
  }
  const full = `${domain}/${remainder}`;
  const match = REFERENCE_RE.exec(full);
  if (match === null) {
    if (REFERENCE_RE.test(full.toLowerCase())) throw invalid(text, 'repository name must be lowercase');
    throw invalid(text, 'invalid reference format');
  }
  const [, matchedDomain, path, tag, digest] = match;
  if (path === undefined) throw invalid(text, 'invalid reference format');
  // The first component was taken as a registry host, so it must be one (not, e.g., `a_b.c`).
  if (matchedDomain !== domain) throw invalid(text, `invalid registry host ${JSON.stringify(domain)}`);
  const name = matchedDomain === undefined ? path : `${matchedDomain}/${path}`;
  if (name.length > NAME_TOTAL_LENGTH_MAX) throw invalid(text, `repository name must not be longer than ${NAME_TOTAL_LENGTH_MAX} characters`);
  let parsedDigest: Digest | undefined;
  if (digest !== undefined) {
    if (!digest.startsWith('sha256:')) throw invalid(text, `unsupported digest algorithm in ${JSON.stringify(digest)}`, 'only sha256 digests are supported');
    if (!isDigest(digest)) throw invalid(text, `invalid digest ${JSON.stringify(digest)}`, 'a digest is "sha256:" followed by 64 lower-case hex digits');
    parsedDigest = digest;
  }
  const addLatest = (options.defaultTag ?? true) && tag === undefined && parsedDigest === undefined;
  return make(matchedDomain ?? DEFAULT_DOMAIN, path, addLatest ? DEFAULT_TAG : tag, parsedDigest);
}

function make(domain: string, path: string, tag: string | undefined, digest: Digest | undefined): ImageRef {
  const ref: { domain: string; path: string; tag?: string; digest?: Digest } = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return Object.freeze(ref) as ImageRef;
}

/** `docker.io/library/busybox` — the repository name without tag or digest. */
export function imageRefName(ref: ImageRef): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full string: `docker.io/library/busybox:latest`, `host/a@sha256:…`, or both tag and digest. */
export function formatImageRef(ref: ImageRef): string {
  return `${imageRefName(ref)}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** Docker's familiar name: `docker.io/library/busybox` → `busybox`, `docker.io/a/b` → `a/b`. */
export function familiarName(ref: ImageRef): string {
  if (ref.domain !== DEFAULT_DOMAIN) return imageRefName(ref);
  if (ref.path.startsWith(OFFICIAL_REPO_PREFIX) && !ref.path.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
    return ref.path.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return ref.path;
}

/** Docker's familiar string: `busybox:latest`, `localhost:5000/x@sha256:…`. */
export function familiarImageRef(ref: ImageRef): string {
  return `${familiarName(ref)}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}

/** The same repository with `tag` (keeps no digest: a new tag names new content). */
export function withTag(ref: ImageRef, tag: string): ImageRef {
  if (!TAG_RE.test(tag)) {
    throw new StagecraftError('INVALID_REFERENCE', `invalid tag ${JSON.stringify(tag)}`, {
      hint: 'a tag is up to 128 letters, digits, "_", "." and "-", not starting with "." or "-"',
    });
  }
  return make(ref.domain, ref.path, tag, undefined);
}

/** The same repository and tag, pinned to `digest`. */
export function withDigest(ref: ImageRef, digest: Digest): ImageRef {
  return make(ref.domain, ref.path, ref.tag, digest);
}

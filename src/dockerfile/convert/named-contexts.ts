/**
 * Named build contexts (`--build-context name=VALUE`), as buildx and BuildKit's dockerfile frontend
 * have them: the name is an image-reference name, normalised to Docker's familiar form without
 * `:latest` (`alpine`, `docker.io/library/alpine:latest` → `alpine`); the value is a local
 * directory, `docker-image://REF`, or `oci-layout://PATH[:TAG][@DIGEST]`. A name replaces, in
 * order, a stage of that name (`FROM … AS name`, the stage is not built), then an image of that
 * name in `FROM name`, `COPY --from=name` and `RUN --mount=from=name`. Pure: the CLI checks that a
 * directory exists, the engine reads an OCI layout.
 */
import { StagecraftError, familiarName, parseImageRef, isDigest, type Digest } from '../../core/index.js';

/** What a named context is, as given on the command line. */
export type NamedContextSpec =
  | { readonly kind: 'local'; readonly dir: string }
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'scratch' }
  | { readonly kind: 'oci-layout'; readonly dir: string; readonly tag?: string | undefined; readonly digest?: Digest | undefined };

/** What the conversion needs of a named context (an OCI layout is resolved to an image first). */
export type ConvertNamedContext =
  | { readonly kind: 'local' }
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'scratch' };

const HINT_FORMS = 'write --build-context NAME=DIR, NAME=docker-image://IMAGE[@DIGEST] or NAME=oci-layout://DIR[:TAG|@DIGEST]';

function usage(message: string, hint: string = HINT_FORMS): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

/**
 * The key a context name is stored and looked up under: the familiar name of the reference, without
 * a `:latest` tag (buildx's and BuildKit's rule). Undefined when `name` is not a reference name.
 */
export function contextKey(name: string): string | undefined {
  try {
    const ref = parseImageRef(name, { defaultTag: false });
    if (ref.digest !== undefined) return undefined;
    const familiar = familiarName(ref);
    return ref.tag === undefined || ref.tag === 'latest' ? familiar : `${familiar}:${ref.tag}`;
  } catch {
    return undefined;
  }
}

/** Splits one `--build-context name=VALUE` flag; `name` is normalised with `contextKey`. */
export function parseBuildContextFlag(raw: string): { readonly name: string; readonly spec: NamedContextSpec } {
  const eq = raw.indexOf('=');
  if (eq <= 0 || eq === raw.length - 1) throw usage(`--build-context ${raw}: expected NAME=VALUE`);
  const rawName = raw.slice(0, eq);
  const value = raw.slice(eq + 1);
  const name = contextKey(rawName);
  if (name === undefined) {
    throw usage(`--build-context ${raw}: invalid context name ${JSON.stringify(rawName)}`,
      'a context name is what FROM, COPY --from or RUN --mount=from= uses: a stage name or an image name in lower case (letters, digits, ".", "_", "-", "/"), without a digest');
  }
  return { name, spec: parseBuildContextValue(value, raw) };
}

function parseBuildContextValue(value: string, raw: string): NamedContextSpec {
  if (value.startsWith('docker-image://')) {
    const ref = value.slice('docker-image://'.length);
    if (ref === 'scratch') return { kind: 'scratch' };
    try {
      parseImageRef(ref);
    } catch (error) {
      const hint = error instanceof StagecraftError ? error.hint : undefined;
      throw new StagecraftError('INVALID_REFERENCE', `--build-context ${raw}: ${error instanceof Error ? error.message : String(error)}`, { hint: hint ?? 'write docker-image://REPOSITORY[:TAG][@DIGEST]' });
    }
    return { kind: 'image', ref };
  }
  if (value.startsWith('oci-layout://')) return parseOciLayout(value.slice('oci-layout://'.length), raw);
  if (/^(https?:\/\/|git@|git:\/\/|ssh:\/\/)/.test(value) || /^github\.com\//.test(value)) {
    throw usage(`--build-context ${raw}: git and URL contexts are not supported by stagecraft yet`,
      'clone or download it first and pass the directory (NAME=./dir), or use docker-image:// or oci-layout://');
  }
  if (value.startsWith('target:')) {
    throw usage(`--build-context ${raw}: target: contexts are a buildx bake feature, not supported by build`, 'name the stage in the Dockerfile instead (COPY --from=STAGE)');
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(value);
  if (scheme !== null) throw usage(`--build-context ${raw}: unsupported context source ${scheme[1] ?? ''}://`);
  return { kind: 'local', dir: value };
}

/** `PATH[:TAG][@DIGEST]`: the digest after the last `@`, a tag after a `:` of the last path element. */
function parseOciLayout(rest: string, raw: string): NamedContextSpec {
  let path = rest;
  let digest: Digest | undefined;
  const at = path.lastIndexOf('@');
  if (at !== -1) {
    const text = path.slice(at + 1);
    if (!isDigest(text)) throw new StagecraftError('INVALID_DIGEST', `--build-context ${raw}: invalid digest ${JSON.stringify(text)}`, { hint: 'a digest is "sha256:" followed by 64 lower-case hex digits' });
    digest = text;
    path = path.slice(0, at);
  }
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/')) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) throw usage(`--build-context ${raw}: invalid tag ${JSON.stringify(tag)}`, 'write oci-layout://DIR:TAG with a tag of letters, digits, "_", "." and "-"');
  }
  if (path === '') throw usage(`--build-context ${raw}: oci-layout:// needs the path of an OCI layout directory`);
  return { kind: 'oci-layout', dir: path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** The plan's context-source name of a directory context (the main context is `context`). */
export function namedContextName(key: string): string {
  return `named:${key}`;
}

/**
 * SLSA provenance of one build (https://slsa.dev/provenance/v1 by default, v0.2 selectable), shaped as
 * BuildKit writes it (docs/attestations/slsa-definitions.md in moby/buildkit): the same fields, the
 * same `buildkit_*` extension names, the same min/max split. docs/provenance.md is our definitions
 * document, and what `buildType` names.
 *
 * Pure: the engine gathers the facts of a build (`engine/provenance-facts.ts`); this turns them into
 * a predicate. Secret and ssh values are never facts: only their ids, and those only in max.
 */
import { PackageURL } from 'packageurl-js';
import { familiarName, formatPlatform, parseImageRef, type Digest, type Platform, type SourceRange } from '../core/index.js';
import { withoutCredentials } from './redact-url.js';
import type { GitSource } from './git.js';

export const PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const PROVENANCE_V02 = 'https://slsa.dev/provenance/v0.2';
/**
 * Our definitions document (docs/provenance.md). Not BuildKit's buildType: our `buildConfig` holds
 * stagecraft plan ops, not LLB, and `configSource` names a local git work tree, which BuildKit does
 * only for remote contexts; a reader keyed on BuildKit's type would misread both.
 */
export const STAGECRAFT_BUILD_TYPE = 'https://github.com/stagecraft/stagecraft/blob/main/docs/provenance.md';
export const STAGECRAFT_BUILD_TYPE_V02 = `${STAGECRAFT_BUILD_TYPE}#slsa-v02`;
/** `runDetails.builder.id` unless `builder-id=` is given. */
export const DEFAULT_BUILDER_ID = 'https://github.com/stagecraft/stagecraft';

export interface ProvenanceOptions {
  readonly mode: 'min' | 'max';
  readonly version: 'v1' | 'v0.2';
  readonly builderId?: string | undefined;
  /** Only a claim (as BuildKit's `reproducible=true`): nothing is checked. */
  readonly reproducible?: boolean | undefined;
}

/** An image the build used: FROM, COPY --from, RUN --mount=from, a named context. */
export interface ProvenanceImage {
  /** As the Dockerfile (or `--build-context`) names it, e.g. `alpine:3.20`, `localhost:5000/base@sha256:…`. */
  readonly ref: string;
  readonly platform?: Platform | undefined;
  /** What the name resolved to (the index digest for a multi-platform image, as BuildKit pins). */
  readonly digest: Digest;
  /** From a local OCI layout (`oci-layout://`): a `pkg:oci` purl, as BuildKit. */
  readonly local?: boolean | undefined;
}

/** An `ADD <url>` download. */
export interface ProvenanceHttp {
  readonly url: string;
  /** `algorithm:hex` of the downloaded content. */
  readonly digest: string;
}

/** A secret or ssh mount id (never a value). */
export interface ProvenanceMountId {
  readonly id: string;
  readonly optional: boolean;
}

/** One plan vertex, for max's `buildConfig` and source map. */
export interface ProvenanceStep {
  /** The vertex id (a digest). */
  readonly id: string;
  /** The plan op as JSON (no secret values: the plan never holds them). */
  readonly op: unknown;
  /** Input vertex ids. */
  readonly inputs: readonly string[];
  /** Where in the Dockerfile (`dockerfile.path`) the step comes from. */
  readonly range?: SourceRange | undefined;
  /** The layers of the step's result, base first, when the build has them (max's `buildkit_metadata.layers`). */
  readonly layers?: readonly { readonly mediaType: string; readonly digest: string; readonly size: number }[] | undefined;
}

/** What the engine knows of one build, for `makeProvenance`. */
export interface ProvenanceFacts {
  /** The build id: shared by every platform's provenance of one invocation. */
  readonly invocationId: string;
  readonly startedOn: Date;
  readonly finishedOn: Date;
  /** The machine's platform (not the result's: that is in the statement's subject). */
  readonly builderPlatform: Platform;
  /** `dockerfile.v0`. */
  readonly frontend: string;
  readonly dockerfile: {
    /** Relative to the context directory (`/`-separated), or its file name when outside it. */
    readonly path: string;
    /** Its text: in max only. */
    readonly text: string;
  };
  /** The git work tree the context is in (`subdir`: where the context is in it). */
  readonly git?: GitSource | undefined;
  /**
   * The build's SOURCE_DATE_EPOCH (seconds) and where it came from (`SOURCE_DATE_EPOCH`, `git`,
   * `base-image`, `default`): what a rebuild needs to reproduce the times (`stagecraft verify`).
   */
  readonly sourceDateEpoch?: { readonly seconds: number; readonly source: string } | undefined;
  /**
   * The frontend attributes as BuildKit names them: `build-arg:NAME`, `label:NAME`, `target`,
   * `no-cache`, `add-hosts`, `context:NAME`, … (host-specific ones like `platform` left out, as BuildKit).
   */
  readonly args: Readonly<Record<string, string>>;
  /** Local sources: `context`, `dockerfile`, named directory contexts. */
  readonly locals: readonly string[];
  readonly secrets: readonly ProvenanceMountId[];
  readonly ssh: readonly ProvenanceMountId[];
  readonly images: readonly ProvenanceImage[];
  readonly http: readonly ProvenanceHttp[];
  /** Whether some RUN step had network access (a build without is hermetic if its sources are complete). */
  readonly networkAccess: boolean;
  /** The plan vertices of the target, dependencies first. */
  readonly steps?: readonly ProvenanceStep[] | undefined;
}

export interface Provenance {
  readonly predicateType: string;
  readonly predicate: Record<string, unknown>;
}

type DigestSet = Record<string, string>;
interface Material {
  readonly uri: string;
  readonly digest: DigestSet;
}

/** `sha256:abc` → `{ sha256: 'abc' }`. */
function digestSet(digest: string): DigestSet {
  const colon = digest.indexOf(':');
  return colon < 0 ? {} : { [digest.slice(0, colon)]: digest.slice(colon + 1) };
}

/** A git commit: sha1, or sha256 for repositories in that object format. */
function commitDigest(commit: string): DigestSet {
  return commit.length === 64 ? { sha256: commit } : { sha1: commit };
}

/**
 * `pkg:docker/<familiar name>@<tag>?digest=…&platform=…` (BuildKit's util/purl RefToPURL): the tag
 * defaults to `latest` unless the reference is pinned by digest only.
 */
export function dependencyPurl(ref: string, platform: Platform | undefined, local = false): string {
  const parsed = parseImageRef(ref);
  const familiar = familiarName(parsed);
  const slash = familiar.lastIndexOf('/');
  const namespace = slash < 0 ? undefined : familiar.slice(0, slash);
  const name = familiar.slice(slash + 1);
  const version = parsed.tag ?? (parsed.digest === undefined ? 'latest' : undefined);
  const qualifiers: Record<string, string> = {};
  if (parsed.digest !== undefined) qualifiers.digest = parsed.digest;
  if (platform !== undefined) qualifiers.platform = formatPlatform(platform);
  const purl = new PackageURL('docker', namespace, name, version, Object.keys(qualifiers).length > 0 ? qualifiers : undefined, undefined).toString();
  // packageurl-js refuses a namespace in `pkg:oci`; BuildKit (packageurl-go) writes it, and so do we.
  return local ? `pkg:oci/${purl.slice('pkg:docker/'.length)}` : purl;
}

/**
 * The image reference and platform of a `pkg:docker` dependency purl (the inverse of
 * `dependencyPurl`); undefined for any other URI or one that does not parse.
 */
export function parseDependencyPurl(uri: string): { readonly ref: string; readonly platform?: string | undefined } | undefined {
  if (!uri.startsWith('pkg:docker/')) return undefined;
  try {
    const purl = PackageURL.fromString(uri);
    const name = `${purl.namespace === undefined || purl.namespace === null || purl.namespace === '' ? '' : `${purl.namespace}/`}${purl.name}`;
    const version = purl.version === undefined || purl.version === null ? '' : `:${purl.version}`;
    const platform = purl.qualifiers?.platform;
    return { ref: `${name}${version}`, ...(platform === undefined ? {} : { platform }) };
  } catch {
    return undefined;
  }
}

/** An image's purl; a name the purl library refuses still names the dependency (provenance never fails a build). */
function imageUri(image: ProvenanceImage): string {
  try {
    return dependencyPurl(image.ref, image.platform, image.local);
  } catch {
    return `pkg:${image.local === true ? 'oci' : 'docker'}/${encodeURIComponent(image.ref)}`;
  }
}

/** The git URI as BuildKit writes a remote context: `<url>#<ref>[:<subdir>]`, credentials removed. */
function gitUri(git: GitSource): string | undefined {
  if (git.uri === undefined) return undefined;
  const subdir = git.subdir ?? '';
  const fragment = `${git.ref ?? ''}${subdir === '' ? '' : `:${subdir}`}`;
  return `${withoutCredentials(git.uri)}${fragment === '' ? '' : `#${fragment}`}`;
}

function materials(facts: ProvenanceFacts): Material[] {
  const out: Material[] = [];
  const seen = new Set<string>();
  const add = (material: Material): void => {
    const key = `${material.uri} ${JSON.stringify(material.digest)}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(material);
  };
  for (const image of facts.images) add({ uri: imageUri(image), digest: digestSet(image.digest) });
  const git = facts.git === undefined ? undefined : gitUri(facts.git);
  if (git !== undefined && facts.git !== undefined) add({ uri: git, digest: commitDigest(facts.git.commit) });
  for (const download of facts.http) add({ uri: withoutCredentials(download.url), digest: digestSet(download.digest) });
  return out;
}

/** Drops what min leaves out (BuildKit's scrubMinRequest); true if any build arg or label went. */
function requestArgs(args: Readonly<Record<string, string>>, mode: 'min' | 'max'): { args: Record<string, string>; scrubbed: boolean } {
  const out: Record<string, string> = {};
  let scrubbed = false;
  for (const key of Object.keys(args).sort()) {
    const value = args[key] ?? '';
    if (mode === 'min' && (key.startsWith('build-arg:') || key.startsWith('label:'))) {
      scrubbed = true;
      continue;
    }
    // A context given as a URL may carry credentials (BuildKit redacts them too).
    out[key] = key === 'context' || key.startsWith('context:') ? withoutCredentials(value) : value;
  }
  return { args: out, scrubbed };
}

function mountIds(list: readonly ProvenanceMountId[]): { id: string; optional?: true }[] {
  const byId = new Map<string, boolean>();
  // A secret used as required anywhere is required.
  for (const entry of list) byId.set(entry.id, (byId.get(entry.id) ?? true) && entry.optional);
  return [...byId].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, optional]) => (optional ? { id, optional: true } : { id }));
}

/** max: the plan as `buildConfig` (`stepN` ids, inputs `stepM:0`) and the Dockerfile source map. */
function buildConfig(facts: ProvenanceFacts): { config: Record<string, unknown>; source: Record<string, unknown>; layers: Record<string, unknown> } | undefined {
  const steps = facts.steps ?? [];
  if (steps.length === 0) return undefined;
  const index = new Map(steps.map((step, i) => [step.id, `step${i}`]));
  const definition = steps.map((step, i) => {
    const inputs = step.inputs.map((input) => index.get(input)).filter((id): id is string => id !== undefined).map((id) => `${id}:0`);
    return { id: `step${i}`, op: step.op, ...(inputs.length > 0 ? { inputs } : {}) };
  });
  const locations: Record<string, unknown> = {};
  steps.forEach((step, i) => {
    if (step.range === undefined) return;
    const { start, end } = step.range;
    locations[`step${i}`] = { locations: [{ sourceIndex: 0, ranges: [{ start: { line: start.line, character: start.column }, end: { line: end.line, character: end.column } }] }] };
  });
  // BuildKit's layer map: `stepN:<output>` → the layer chains of that result (one chain here).
  const layers: Record<string, unknown> = {};
  steps.forEach((step, i) => {
    if (step.layers !== undefined && step.layers.length > 0) layers[`step${i}:0`] = [step.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size }))];
  });
  return {
    config: { llbDefinition: definition, digestMapping: Object.fromEntries(steps.map((step, i) => [step.id, `step${i}`])) },
    layers,
    source: {
      infos: [{ filename: facts.dockerfile.path, language: 'Dockerfile', data: Buffer.from(facts.dockerfile.text, 'utf8').toString('base64') }],
      locations,
    },
  };
}

/**
 * The provenance predicate of one build, in the version and mode asked. Deterministic for the same
 * facts and options (keys sorted where they come from maps, materials deduplicated in order).
 */
export function makeProvenance(facts: ProvenanceFacts, options: ProvenanceOptions): Provenance {
  const { args, scrubbed } = requestArgs(facts.args, options.mode);
  const max = options.mode === 'max';
  const request: Record<string, unknown> = { frontend: facts.frontend };
  if (Object.keys(args).length > 0) request.args = args;
  if (max) {
    const secrets = mountIds(facts.secrets);
    const ssh = mountIds(facts.ssh);
    if (secrets.length > 0) request.secrets = secrets;
    if (ssh.length > 0) request.ssh = ssh;
  }
  if (facts.locals.length > 0) request.locals = facts.locals.map((name) => ({ name }));

  const configSource: Record<string, unknown> = {};
  const uri = facts.git === undefined ? undefined : gitUri(facts.git);
  if (uri !== undefined && facts.git !== undefined) {
    configSource.uri = uri;
    configSource.digest = commitDigest(facts.git.commit);
  }
  configSource.path = facts.dockerfile.path;

  const resolved = materials(facts);
  // As BuildKit: a local source (the context directory) is not pinned by any digest, so the
  // dependencies are never complete for a local build, even in a git work tree (it may be dirty or
  // hold ignored files).
  const completeDependencies = facts.locals.length === 0;
  const completeness = { request: !scrubbed, resolvedDependencies: completeDependencies };
  const hermetic = completeDependencies && !facts.networkAccess;
  const config = max ? buildConfig(facts) : undefined;
  const buildkitMetadata: Record<string, unknown> = {};
  if (facts.git !== undefined) {
    // What buildx sends as vcs:source / vcs:revision for a local git context (min and max).
    const vcs: Record<string, string> = { revision: facts.git.commit };
    if (facts.git.uri !== undefined) vcs.source = withoutCredentials(facts.git.uri);
    if ((facts.git.subdir ?? '') !== '') vcs['localdir:context'] = facts.git.subdir ?? '';
    buildkitMetadata.vcs = vcs;
  }
  if (config !== undefined) buildkitMetadata.source = config.source;
  if (config !== undefined && Object.keys(config.layers).length > 0) buildkitMetadata.layers = config.layers;
  const builderId = options.builderId ?? DEFAULT_BUILDER_ID;
  const reproducible = options.reproducible ?? false;
  const internal: Record<string, unknown> = { builderPlatform: formatPlatform(facts.builderPlatform) };
  if (config !== undefined) internal.buildConfig = config.config;
  // min and max: a rebuild needs the epoch whatever the mode (BuildKit has it only as a build arg, scrubbed by min).
  if (facts.sourceDateEpoch !== undefined) {
    internal.sourceDateEpoch = facts.sourceDateEpoch.seconds;
    internal.sourceDateEpochSource = facts.sourceDateEpoch.source;
  }

  if (options.version === 'v0.2') {
    const metadata: Record<string, unknown> = {
      buildInvocationID: facts.invocationId,
      buildStartedOn: facts.startedOn.toISOString(),
      buildFinishedOn: facts.finishedOn.toISOString(),
      completeness: { parameters: completeness.request, environment: true, materials: completeness.resolvedDependencies },
      reproducible,
      'https://mobyproject.org/buildkit@v1#metadata': buildkitMetadata,
    };
    if (hermetic) metadata['https://mobyproject.org/buildkit@v1#hermetic'] = true;
    const predicate: Record<string, unknown> = {
      builder: { id: builderId },
      buildType: STAGECRAFT_BUILD_TYPE_V02,
      materials: resolved,
      invocation: {
        configSource: { ...(configSource.uri === undefined ? {} : { uri: configSource.uri, digest: configSource.digest }), entryPoint: facts.dockerfile.path },
        parameters: request,
        environment: {
          platform: internal.builderPlatform,
          ...(facts.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: facts.sourceDateEpoch.seconds, sourceDateEpochSource: facts.sourceDateEpoch.source }),
        },
      },
      ...(config === undefined ? {} : { buildConfig: config.config }),
      metadata,
    };
    return { predicateType: PROVENANCE_V02, predicate };
  }

  const metadata: Record<string, unknown> = {
    invocationId: facts.invocationId,
    startedOn: facts.startedOn.toISOString(),
    finishedOn: facts.finishedOn.toISOString(),
    buildkit_metadata: buildkitMetadata,
    buildkit_completeness: completeness,
    buildkit_reproducible: reproducible,
  };
  if (hermetic) metadata.buildkit_hermetic = true;
  const predicate: Record<string, unknown> = {
    buildDefinition: {
      buildType: STAGECRAFT_BUILD_TYPE,
      externalParameters: { configSource, request },
      internalParameters: internal,
      resolvedDependencies: resolved,
    },
    runDetails: { builder: { id: builderId }, metadata },
  };
  return { predicateType: PROVENANCE_V1, predicate };
}

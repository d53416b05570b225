/**
 * The exporter seam (DESIGN.md, L4 `exporter/`). Two phases:
 *
 * 1. `resolveExporters`, before any work starts: every `-o`, `--push`, `-t` and `--cache-to` is checked
 *    (names parse, at most one local/tar output, one layer compression, one output on stdout) and
 *    turned into typed exporters, so a typo fails in milliseconds for the CLI and library callers alike.
 * 2. After the solve and the image's assembly, the engine runs each exporter, in order, on the
 *    `BuiltImage`. Where the image leaves the build is here: attestations, scans, policy and signing
 *    plug in as further exporters or as a step before them.
 */
import type { CacheExportSpec, CacheRecords, KeyLink, LayerRecord, StepLayer } from '../cache/index.js';
import type { Content } from '../content/index.js';
import { StagecraftError, formatImageRef, parseImageRef, type Digest } from '../core/index.js';
import { DEFAULT_EXPORT_COMPRESSION, type ExportCompressionSpec } from '../image/index.js';
import type { RegistryClient } from '../registry/index.js';
import type { MountedRootfs } from '../snapshot/index.js';
import type { Attestation } from './attest.js';
import { ArchiveExporter } from './archive.js';
import { CacheExporter } from './cache.js';
import { ImageExporter } from './image.js';
import { LocalExporter } from './local.js';
import type { OutputSpec } from './options.js';
import { RegistryExporter } from './registry.js';
import { TarExporter } from './tar.js';

/** The build's result as exporters see it: the stored image and the final stage's filesystem. */
export interface BuiltImage {
  /** The image manifest, already in the content store with its config and layers. */
  readonly descriptor: { readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly annotations?: Readonly<Record<string, string>> | undefined };
  /** `os/arch[/variant]` of the image. */
  readonly platform: string;
  /** Normalised names from `-t` and image outputs, in order, without duplicates. */
  readonly names: readonly string[];
  /**
   * A read-only view of the final stage's filesystem (the snapshot the last step left, mounted, not
   * layers re-extracted). The caller disposes it.
   */
  rootfs(signal: AbortSignal): Promise<MountedRootfs>;
  /** Cache keys of the solve: the target's and every step's (for `--cache-to` mode=min/max). */
  readonly cacheKeys: {
    readonly target: Digest | undefined;
    readonly all: readonly Digest[];
    /** Selection key → content digest of what steps select from other stages (exported whatever the mode). */
    readonly links?: readonly KeyLink[] | undefined;
  };
  /** Cache records written into the image config (`--cache-to type=inline`); 0 without. */
  readonly inlineCacheRecords: number;
  /**
   * The image index (in the store) listing the image manifest and its attestation manifest, as
   * BuildKit stores attestations; undefined when the build makes none (`--provenance=false`).
   */
  readonly index?: { readonly mediaType: string; readonly digest: Digest; readonly size: number } | undefined;
  /** The build's attestations (SBOMs, provenance), for the outputs that write them as files. */
  readonly attestations: readonly Attestation[];
}

/** What exporters may use; chosen by the engine. */
export interface ExportContext {
  readonly content: Content;
  readonly registry: RegistryClient;
  readonly records: CacheRecords;
  /** Makes the lazy layers of cache records (a cache export needs their blobs). */
  readonly resolveLayers: (layers: readonly StepLayer[], signal: AbortSignal) => Promise<readonly LayerRecord[]>;
  /** Pushes a name of the local store to its registry. */
  readonly push: (name: string, signal: AbortSignal) => Promise<unknown>;
  /** Where `dest=-` outputs go. */
  readonly stdout: NodeJS.WritableStream | undefined;
  /** The Docker daemon's socket, for `--load` / `type=docker` without dest (default /var/run/docker.sock). */
  readonly dockerSocket: string | undefined;
  /** The build's SOURCE_DATE_EPOCH (seconds): every mtime of a local or tar output is set to it; undefined for a wall-clock build. */
  readonly sourceDateEpoch: number | undefined;
  /** A warning in the build's output (e.g. a `--cache-to` that failed with ignore-error=true). */
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
}

export interface Exporter {
  /** What it does, as BuildKit names its span (`exporting to image`). */
  readonly name?: string | undefined;
  /** Exports `image`; returns what it did for the build summary ("pushed REF", "oci archive FILE"). */
  export(image: BuiltImage, ctx: ExportContext): Promise<readonly string[]>;
}

export interface ResolveExportersOptions {
  readonly outputs: readonly OutputSpec[];
  readonly tags: readonly string[];
  /** `--push`: push every name. */
  readonly push: boolean;
  readonly cacheTo?: readonly CacheExportSpec[] | undefined;
  /** How many platforms the build makes (default 1): several make one image index, which some outputs cannot hold. */
  readonly platforms?: number | undefined;
}

export interface ResolvedExporters {
  /** In export order: names in the store, pushes, outputs as given, cache exports. */
  readonly exporters: readonly Exporter[];
  /** The image's names (`-t` and image outputs), normalised. */
  readonly names: readonly string[];
  /** The compression of the image's layers; undefined keeps a local-only image's layers plain. */
  readonly compression: ExportCompressionSpec | undefined;
  /** An image output asked for Docker's media types (oci-mediatypes=false). */
  readonly dockerMediaTypes: boolean;
  /** `--cache-to type=inline`: the image config carries the cache records. */
  readonly inlineCache: boolean;
  /** An output loads the image into the Docker daemon: its socket is checked before the build. */
  readonly daemon: boolean;
}

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

function normalise(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    const full = formatImageRef(parseImageRef(name));
    if (!out.includes(full)) out.push(full);
  }
  return out;
}

/**
 * Steps store plain tar layers. The image's layers are compressed when it leaves the machine (a push,
 * an OCI/Docker archive) or when an output names a compression; a local-only image keeps them plain,
 * as BuildKit does in Docker's image store.
 */
function layerCompression(outputs: readonly OutputSpec[], push: boolean): ExportCompressionSpec | undefined {
  const specs = outputs.flatMap((o) => (o.type === 'image' || o.type === 'oci' || o.type === 'docker' ? [o.compression] : []));
  const explicit = specs.find((c) => c.explicit);
  if (explicit !== undefined) return explicit;
  // A load into the Docker daemon stays on the machine (the daemon stores layers uncompressed).
  const leaves = push || outputs.some((o) => (o.type === 'image' && o.push) || o.type === 'oci' || (o.type === 'docker' && o.dest !== undefined));
  return leaves ? DEFAULT_EXPORT_COMPRESSION : undefined;
}

/** Checks the outputs together and makes their exporters. Throws USAGE naming the conflict. */
export function resolveExporters(options: ResolveExportersOptions): ResolvedExporters {
  const { outputs } = options;
  if (outputs.filter((o) => o.type === 'local' || o.type === 'tar').length > 1) throw usage('only one local or tar output is supported', 'give one -o type=local or type=tar');
  const compressions = new Set(outputs.flatMap((o) => ((o.type === 'image' || o.type === 'oci' || o.type === 'docker') && o.compression.explicit ? [o.compression.compression] : [])));
  if (compressions.size > 1) throw usage('outputs ask for different layer compressions', 'give every image output the same compression=');
  if (outputs.filter((o) => o.type !== 'image' && o.dest === '-').length > 1) throw usage('only one output can go to stdout (dest=-)', 'write the others to files with dest=FILE');
  for (const o of outputs) {
    if ((o.type === 'oci' || o.type === 'docker') && !o.tar && o.dest === '-') throw usage(`--output ${o.raw}: tar=false writes a directory, not stdout`, `write type=${o.type},tar=false,dest=DIR`);
  }

  if ((options.platforms ?? 1) > 1) refuseMultiPlatform(outputs, options.cacheTo ?? []);

  const imageOutputs = outputs.filter((o): o is Extract<OutputSpec, { type: 'image' }> => o.type === 'image');
  const names = normalise([...options.tags, ...imageOutputs.flatMap((o) => o.names)]);
  const pushNames = normalise([...(options.push ? names : []), ...imageOutputs.filter((o) => o.push).flatMap((o) => o.names)]);
  const exporters: Exporter[] = [new ImageExporter(names)];
  if (pushNames.length > 0) exporters.push(new RegistryExporter(pushNames));
  for (const output of outputs) {
    switch (output.type) {
      case 'image':
        break; // named and pushed above
      case 'oci':
      case 'docker':
        exporters.push(new ArchiveExporter(output.type, normalise(output.names), output.dest, output.tar));
        break;
      case 'local':
        exporters.push(new LocalExporter(output.dest));
        break;
      case 'tar':
        exporters.push(new TarExporter(output.dest));
        break;
    }
  }
  for (const spec of options.cacheTo ?? []) exporters.push(new CacheExporter(spec));
  return {
    exporters,
    names,
    compression: layerCompression(outputs, options.push),
    // oci-mediatypes=false on an image output: Docker's media types (BuildKit's docker exporter default).
    dockerMediaTypes: imageOutputs.some((o) => !o.ociMediaTypes),
    inlineCache: (options.cacheTo ?? []).some((s) => s.location.type === 'inline'),
    daemon: outputs.some((o) => o.type === 'docker' && o.dest === undefined),
  };
}

/**
 * Outputs that hold one platform's image or filesystem cannot take a multi-platform build (buildx:
 * "docker exporter does not currently support exporting manifest lists"); stagecraft's cache export
 * keeps one platform's records per ref. Refused before the build starts.
 */
function refuseMultiPlatform(outputs: readonly OutputSpec[], cacheTo: readonly CacheExportSpec[]): void {
  for (const output of outputs) {
    if (output.type === 'docker') throw usage(`--output ${output.raw}: a Docker image (or --load) holds one platform, not an index of several`, 'build several platforms with --push, -o type=image or -o type=oci; --load one platform at a time');
    if (output.type === 'local' || output.type === 'tar') throw usage(`--output ${output.raw}: writing the files of several platforms is not supported`, 'build one platform per run for type=local or type=tar');
  }
  if (cacheTo.length > 0) throw usage('--cache-to with several platforms is not supported', 'export the cache from one platform\'s build (the shared stages are in it), or build per platform');
}

/**
 * The attest step of the export pipeline (DESIGN.md: assemble → attest → … → export): makes the
 * predicates the request asks for (SBOM of the final filesystem and of scanned stages, provenance),
 * once, and stores the image index that carries them (attest/storage.ts) next to the image manifest.
 * Exporters then read `BuiltImage.index` (store names, registry, oci) or `attestations` (local/tar
 * files, whose statements' subjects are the exported files, as BuildKit's local exporter).
 *
 * The predicates come from producers the engine passes in (the SBOM catalogers and formatter, the
 * provenance builder), so this step knows only the shapes. A build without an SBOM request makes no
 * filesystem view and scans nothing.
 */
import type { Content } from '../content/index.js';
import { parsePlatform, type Digest } from '../core/index.js';
import { MAX_ATTESTATION_BYTES, SPDX_PREDICATE_TYPE, assembleAttestedIndex, imageSubjects, makeStatement } from '../attest/index.js';
import type { Descriptor } from '../oci/index.js';
import type { MountedRootfs } from '../snapshot/index.js';
import type { AttestationRequest, ProvenanceRequest } from './attest-options.js';

/** One attestation of the build, before it is wrapped in a statement (the subjects depend on the output). */
export interface Attestation {
  /** `vuln`: the vulnerability scan's result (cosign's vuln attestation, exporter/scan.ts). */
  readonly kind: 'sbom' | 'provenance' | 'vuln';
  /** The file name in local/tar outputs (`sbom.spdx.json`, `sbom-<stage>.spdx.json`, `provenance.json`, `vulns.json`). */
  readonly path: string;
  readonly predicateType: string;
  readonly predicate: Record<string, unknown>;
  /** Only image outputs carry it (buildx's default provenance). */
  readonly inlineOnly: boolean;
}

/** A filesystem to scan: the final image (`sbom`) or a scanned stage / the context (`sbom-<name>`). */
export interface SbomTarget {
  /** `sbom` for the image, `sbom-<stage>` for a stage, `sbom-context` for the build context. */
  readonly name: string;
  /** A read-only view of the filesystem; the caller disposes it. */
  rootfs(signal: AbortSignal): Promise<MountedRootfs>;
  /** The layer (blob digest) that last wrote a path, if known. */
  readonly layerOf?: ((path: string) => Promise<Digest | undefined>) | undefined;
}

export interface SbomInput {
  readonly target: SbomTarget;
  /** The mounted root (read-only): scan it, never write. */
  readonly root: string;
  /** The image manifest the SBOM describes (for the document's name/namespace). */
  readonly subjectDigest: Digest;
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
}

export interface AttestationProducers {
  /** The SPDX 2.3 document of a filesystem (predicate of `https://spdx.dev/Document`). */
  readonly sbom: (input: SbomInput) => Promise<Record<string, unknown>>;
  /** The provenance predicate of this build. */
  readonly provenance: (options: ProvenanceRequest, signal: AbortSignal) => Promise<{ readonly predicateType: string; readonly predicate: Record<string, unknown> }>;
}

export interface AttestOptions {
  readonly request: AttestationRequest;
  readonly producers: AttestationProducers;
  /** The final image first, then scanned stages (only used with an SBOM request). */
  readonly sbomTargets: readonly SbomTarget[];
  readonly image: { readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly annotations?: Readonly<Record<string, string>> | undefined };
  readonly platform: string;
  readonly names: readonly string[];
  /** Docker media types for the index and attestation manifest. */
  readonly docker: boolean;
  readonly content: Content;
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
}

export interface AttestResult {
  readonly attestations: readonly Attestation[];
  /** The image index holding the image manifest and its attestation manifest (stored); undefined without attestations. */
  readonly index: Descriptor | undefined;
  /** The in-toto statement blobs of the attestation manifest (what a signature of each attestation covers). */
  readonly statements: readonly Descriptor[];
}

/** BuildKit refuses an attestation file over 40 MiB; here it is left out with a warning. */
function withinLimit(attestation: Attestation, warn: (message: string) => void): boolean {
  const size = Buffer.byteLength(JSON.stringify(attestation.predicate));
  if (size <= MAX_ATTESTATION_BYTES) return true;
  warn(`the ${attestation.path} attestation is ${size} bytes, over the ${MAX_ATTESTATION_BYTES}-byte limit: left out of the image`);
  return false;
}

/** Makes the attestations and stores the index; returns nothing to do for an empty request. */
export async function attestImage(options: AttestOptions): Promise<AttestResult> {
  return storeAttestations(options, await makeAttestations(options));
}

/** Makes the predicates the request asks for (the scan step may add more before they are stored). */
export async function makeAttestations(options: AttestOptions): Promise<Attestation[]> {
  const { request, producers, signal } = options;
  const attestations: Attestation[] = [];
  if (request.sbom !== undefined) {
    if (request.sbom.generator !== undefined) options.warn(`SBOM generator ${request.sbom.generator}: stagecraft does not run generator images; its built-in catalogers make the SBOM`);
    for (const target of options.sbomTargets) {
      const rootfs = await target.rootfs(signal);
      try {
        const predicate = await producers.sbom({ target, root: rootfs.path, subjectDigest: options.image.digest, warn: options.warn, signal });
        attestations.push({ kind: 'sbom', path: `${target.name}.spdx.json`, predicateType: SPDX_PREDICATE_TYPE, predicate, inlineOnly: false });
      } finally {
        await rootfs[Symbol.asyncDispose]();
      }
    }
  }
  if (request.provenance !== undefined) {
    const made = await producers.provenance(request.provenance, signal);
    attestations.push({ kind: 'provenance', path: request.provenance.filename ?? 'provenance.json', predicateType: made.predicateType, predicate: made.predicate, inlineOnly: request.provenance.inlineOnly === true });
  }
  return attestations;
}

/** Stores the image index carrying the attestations next to the image manifest; none: no index. */
export async function storeAttestations(options: Pick<AttestOptions, 'image' | 'platform' | 'names' | 'docker' | 'content' | 'warn' | 'signal'>, attestations: readonly Attestation[]): Promise<AttestResult> {
  const { signal } = options;
  const kept = attestations.filter((a) => withinLimit(a, options.warn));
  if (kept.length === 0) return { attestations: kept, index: undefined, statements: [] };
  const subjects = imageSubjects(options.names, options.platform, options.image.digest);
  const assembled = assembleAttestedIndex({
    image: options.image,
    platform: parsePlatform(options.platform),
    statements: kept.map((a) => makeStatement(subjects, a.predicateType, a.predicate)),
    docker: options.docker,
  });
  for (const b of assembled.blobs) await options.content.blobs.put(b.bytes, { digest: b.digest, signal });
  return { attestations: kept, index: assembled.index, statements: assembled.layers };
}

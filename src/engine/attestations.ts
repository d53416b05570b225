/**
 * The attestations of an image, for `inspect --format '{{json .SBOM}}'` / `'{{json .Provenance}}'`, read
 * as `buildx imagetools inspect` reads them: the attestation manifest that refers to the image
 * manifest (vnd.docker.reference.digest), its in-toto layers picked by their
 * `in-toto.io/predicate-type` annotation; the first SPDX predicate is `SBOM.SPDX`, the others (scanned
 * stages) `SBOM.AdditionalSPDXs`; the first SLSA predicate is `Provenance.SLSA`. From the local store
 * (a built image's index) or, when the store has no such name, from its registry.
 */
import { z } from 'zod';
import { IN_TOTO_MEDIA_TYPE, MAX_ATTESTATION_BYTES, PREDICATE_TYPE_ANNOTATION, SPDX_PREDICATE_TYPE, attestationManifestsOf } from '../attest/index.js';
import { StagecraftError, formatPlatform, parseImageRef, type ImageRef } from '../core/index.js';
import { descriptorSchema, platformFromOci, type Descriptor } from '../oci/index.js';
import { findImage, type ImageDeps } from './images.js';

export interface SbomView {
  readonly SPDX?: unknown;
  readonly AdditionalSPDXs?: readonly unknown[] | undefined;
}

export interface ProvenanceView {
  readonly SLSA?: unknown;
}

export interface ImageAttestations {
  readonly SBOM: SbomView;
  readonly Provenance: ProvenanceView;
}

const indexSchema = z.object({ manifests: z.array(descriptorSchema) });
const manifestSchema = z.object({ layers: z.array(descriptorSchema) });
const statementSchema = z.looseObject({ predicateType: z.string(), predicate: z.unknown() });

/** Reads blobs and manifests from wherever the image is. */
interface Source {
  readonly json: (descriptor: Descriptor) => Promise<unknown>;
}

async function collect(source: Source, index: z.infer<typeof indexSchema>, image: string): Promise<ImageAttestations> {
  const spdx: unknown[] = [];
  let slsa: unknown;
  for (const { descriptor } of attestationManifestsOf(index.manifests).filter((a) => a.refersTo === image)) {
    const manifest = manifestSchema.parse(await source.json(descriptor));
    for (const layer of manifest.layers) {
      if (layer.mediaType !== IN_TOTO_MEDIA_TYPE) continue;
      const type = layer.annotations?.[PREDICATE_TYPE_ANNOTATION] ?? '';
      if (type !== SPDX_PREDICATE_TYPE && !(type.startsWith('https://slsa.dev/provenance/') && slsa === undefined)) continue;
      if (layer.size > MAX_ATTESTATION_BYTES) throw new StagecraftError('INVALID_MANIFEST', `attestation ${layer.digest} is ${layer.size} bytes, over the ${MAX_ATTESTATION_BYTES}-byte limit`);
      const statement = statementSchema.parse(await source.json(layer));
      if (type === SPDX_PREDICATE_TYPE) spdx.push(statement.predicate);
      else slsa = statement.predicate;
    }
  }
  const [first, ...rest] = spdx;
  return {
    SBOM: first === undefined ? {} : { SPDX: first, ...(rest.length > 0 ? { AdditionalSPDXs: rest } : {}) },
    Provenance: slsa === undefined ? {} : { SLSA: slsa },
  };
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (cause) {
    throw new StagecraftError('INVALID_MANIFEST', `${what} is not JSON`, { cause });
  }
}

/** The image's attestations: none (`{}` each) for an image built with --provenance=false or pulled without them. */
export async function imageAttestations(deps: ImageDeps, text: string, signal?: AbortSignal): Promise<ImageAttestations> {
  const content = await deps.content();
  let local;
  try {
    local = await findImage(content, text);
  } catch (error) {
    if (!(error instanceof StagecraftError && error.code === 'NOT_FOUND') || text.startsWith('sha256:')) throw error;
    return remoteAttestations(deps, parseImageRef(text), signal);
  }
  const index = content.references.completeIndex(local);
  if (index === undefined) return { SBOM: {}, Provenance: {} };
  const source: Source = { json: async (d) => parseJson(await content.blobs.read(d.digest), `blob ${d.digest}`) };
  return collect(source, indexSchema.parse(await source.json(index)), local.digest);
}

export async function remoteAttestations(deps: ImageDeps, ref: ImageRef, signal: AbortSignal | undefined): Promise<ImageAttestations> {
  const root = await deps.registry.fetchManifest(ref, ref.digest ?? ref.tag ?? 'latest', { signal });
  if (root.parsed.kind !== 'index') return { SBOM: {}, Provenance: {} };
  const index = indexSchema.parse(parseJson(root.bytes, `index ${root.descriptor.digest}`));
  // The image for this machine's platform, as imagetools shows one platform's attestations.
  const wanted = formatPlatform(deps.defaultPlatform);
  const images = index.manifests.filter((m) => m.platform !== undefined && m.platform.os !== 'unknown');
  const image = images.find((m) => m.platform !== undefined && formatPlatform(platformFromOci(m.platform)) === wanted) ?? images[0];
  if (image === undefined) return { SBOM: {}, Provenance: {} };
  const source: Source = {
    json: async (d) => {
      if (d.mediaType === IN_TOTO_MEDIA_TYPE) {
        // Verified (size and digest) while it streams; collect() has checked the size limit.
        const bytes = await deps.registry.fetchBlobBytes(ref, d, { signal });
        return parseJson(bytes, `attestation ${d.digest}`);
      }
      const fetched = await deps.registry.fetchManifest(ref, d.digest, { signal });
      return parseJson(fetched.bytes, `manifest ${d.digest}`);
    },
  };
  return collect(source, index, image.digest);
}

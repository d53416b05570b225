/**
 * `stagecraft policy check IMAGE --policy FILE`: the policy gate over an image that exists (in the
 * store, else pulled from its registry). The input object is built as the build builds it: the
 * image's config and layers, its packages (catalogued now), its attestations (provenance gives the
 * base images), the scans the policy needs, and its signatures (verified with `--key`, else only
 * found).
 */
import { BUNDLE_MEDIA_TYPE, localSignatureSource, registrySignatureSource, verifyImageSignatures, type SignatureSource, type VerifyingKey } from '../attest/index.js';
import { StagecraftError, formatImageRef, parseImageRef, type Digest } from '../core/index.js';
import { policyInput, type VulnData } from '../exporter/index.js';
import { readStoredImage } from '../image/index.js';
import { evaluatePolicy, scansNeeded, type Policy, type PolicyInput, type Verdict } from '../policy/index.js';
import { scanImageSecrets, scanVulnerabilities } from '../scan/index.js';
import { imageAttestations, remoteAttestations, type ImageAttestations } from './attestations.js';
import { findImage } from './images.js';
import { sbomImage, type SbomDeps } from './sbom.js';

export interface PolicyCheckOptions {
  readonly policy: Policy;
  readonly vulnData?: Omit<VulnData, 'stateRoot'> | undefined;
  /** Verify the image's signatures with this key (without: a signature found is enough for requireSignature). */
  readonly key?: VerifyingKey | undefined;
  readonly warn?: ((message: string) => void) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface PolicyCheckResult {
  readonly image: string;
  readonly digest: Digest;
  readonly verdict: Verdict;
  readonly input: PolicyInput;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * The base images a provenance predicate names: SLSA v1 `buildDefinition.resolvedDependencies`, v0.2
 * `materials`, each `pkg:docker/<name>@<tag>?…` with its sha256 digest (BuildKit's form). Undefined
 * without provenance.
 */
export function basesFromProvenance(predicate: unknown): { ref: string; digest: string }[] | undefined {
  const p = record(predicate);
  if (p === undefined) return undefined;
  const v1 = record(p.buildDefinition)?.resolvedDependencies;
  const list = Array.isArray(v1) ? v1 : Array.isArray(p.materials) ? p.materials : undefined;
  if (list === undefined) return undefined;
  const bases: { ref: string; digest: string }[] = [];
  for (const item of list) {
    const entry = record(item);
    const uri = typeof entry?.uri === 'string' ? entry.uri : '';
    if (!uri.startsWith('pkg:docker/')) continue;
    const [path = '', query = ''] = uri.slice('pkg:docker/'.length).split('?');
    const at = path.lastIndexOf('@');
    const name = decodeURIComponent(at === -1 ? path : path.slice(0, at));
    const tag = at === -1 ? undefined : decodeURIComponent(path.slice(at + 1));
    const sha = record(entry?.digest)?.sha256;
    const digest = typeof sha === 'string' ? `sha256:${sha}` : (new URLSearchParams(query).get('digest') ?? '');
    let ref = tag === undefined ? name : `${name}:${tag}`;
    try {
      ref = formatImageRef(parseImageRef(ref));
    } catch {
      // kept as written
    }
    bases.push({ ref, digest });
  }
  return bases;
}

async function signaturesFound(source: SignatureSource, subject: Digest): Promise<boolean> {
  const referrers = await source.referrers(subject);
  if (referrers.some((r) => r.artifactType === BUNDLE_MEDIA_TYPE)) return true;
  return (await source.legacy(subject)).length > 0;
}

export async function policyCheck(deps: SbomDeps, text: string, options: PolicyCheckOptions): Promise<PolicyCheckResult> {
  const signal = options.signal ?? new AbortController().signal;
  const warn = options.warn ?? ((): void => undefined);
  const needed = scansNeeded(options.policy);
  // Catalogues the image (pulling it when the store does not hold it): the packages of its final filesystem.
  const sbom = await sbomImage(deps, text, { signal, warn });
  const content = await deps.content();
  const ref = await findImage(content, sbom.name);
  const stored = await readStoredImage(content, ref);
  const size = stored.layers.reduce((sum, l) => sum + l.size, 0) + stored.configBytes.length + stored.manifestBytes.length;
  let attestations: ImageAttestations = await imageAttestations(deps, sbom.name, signal);
  // A pull stores the platform's manifest, not the index with the attestations: read them from the registry.
  if (sbom.source === 'registry' && attestations.SBOM.SPDX === undefined && attestations.Provenance.SLSA === undefined) {
    attestations = await remoteAttestations(deps, parseImageRef(text), signal);
  }
  const slsa = attestations.Provenance.SLSA;
  const provenance = record(slsa);
  // A pulled image's signatures are in its registry, not in the store.
  const source = sbom.source === 'registry' ? registrySignatureSource(deps.registry, parseImageRef(text), signal) : localSignatureSource(content);
  let signature: 'found' | 'verified' | 'none' = 'none';
  if (options.key !== undefined) {
    const verified = await verifyImageSignatures({ source, key: options.key, subject: sbom.digest }).then(() => true, (error: unknown) => {
      if (error instanceof StagecraftError && error.code === 'SIGNATURE_INVALID') {
        warn(`signature: ${error.message}`);
        return false;
      }
      throw error;
    });
    signature = verified ? 'verified' : 'none';
  } else {
    signature = (await signaturesFound(source, sbom.digest)) ? 'found' : 'none';
  }
  const secrets = needed.secrets ? await scanImageSecrets({ content, manifest: sbom.digest, provenance: slsa, warn, signal }) : undefined;
  const vulns = needed.vulns || options.vulnData?.osvDir !== undefined
    ? await scanVulnerabilities({ packages: sbom.result.packages, distro: sbom.result.distro, data: { ...options.vulnData, stateRoot: deps.stateRoot }, warn, signal })
    : undefined;
  const input = policyInput({
    name: sbom.name,
    platform: sbom.platform,
    image: stored,
    size,
    bases: basesFromProvenance(slsa),
    packages: sbom.result.packages,
    sbomAttached: attestations.SBOM.SPDX !== undefined,
    provenance: provenance === undefined ? undefined : { predicateType: 'buildDefinition' in provenance ? 'https://slsa.dev/provenance/v1' : 'https://slsa.dev/provenance/v0.2', predicate: provenance },
    secrets,
    vulns,
    signature,
  });
  return { image: sbom.name, digest: sbom.digest, verdict: evaluatePolicy(options.policy, input), input };
}

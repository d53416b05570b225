/**
 * The build's export pipeline after the attestations are made (DESIGN.md: assemble → attest → scan →
 * policy gate → sign → export): the scans (`--scan`, plus those the policy needs), the policy gate
 * (a failing gate throws POLICY_DENIED before any exporter runs), the attestation index (with the
 * vuln attestation), the signature (`--sign`), and the supply-chain facts for the history.
 */
import { catalogFilesystem, directoryScanFs, type Distro, type SbomPackage, type SbomResult } from '../attest/index.js';
import type { Content } from '../content/index.js';
import { formatImageRef, parseImageRef, type Digest } from '../core/index.js';
import { enforcePolicy, policyInput, scanImage, scanSummary, storeAttestations, type Attestation, type AttestResult, type LayerSource, type ScanRequest, type Scanners, type VulnData } from '../exporter/index.js';
import { readStoredImage } from '../image/index.js';
import type { Descriptor } from '../oci/index.js';
import type { BaseImages, LayerStore } from '../ops/index.js';
import { formatVerdict, scansNeeded, type Policy, type Verdict } from '../policy/index.js';
import { scanImageSecrets, scanVulnerabilities, vulnPredicate, type SecretReport, type VulnReport } from '../scan/index.js';
import type { SbomTarget } from '../exporter/index.js';
import type { SupplyChainFacts } from './build.js';

/** The scanners of scan/ (a test passes its own through `BuildDeps.scanners`). */
export const DEFAULT_SCANNERS: Scanners = {
  secrets: scanImageSecrets,
  vulns: scanVulnerabilities,
  vulnPredicate: (report, subject) => ({ ...vulnPredicate(report, subject) }),
};

/** The scans a build runs: those asked for, and those its policy needs to be decided. */
export function effectiveScans(scan: ScanRequest | undefined, policy: Policy | undefined): ScanRequest & { readonly packages: boolean } {
  const needed = policy === undefined ? { secrets: false, vulns: false, packages: false } : scansNeeded(policy);
  return { secrets: (scan?.secrets ?? false) || needed.secrets, vulns: (scan?.vulns ?? false) || needed.vulns, packages: needed.packages };
}

export interface SupplyChainOptions {
  readonly request: ScanRequest & { readonly packages: boolean };
  readonly policy: Policy | undefined;
  /** Signs the image and the statements of its attestation index (`--sign`, key loaded before the build). */
  readonly sign: ((index: Descriptor | undefined) => Promise<void>) | undefined;
  readonly scanners: Scanners | undefined;
  readonly vulnData: VulnData;
  readonly content: Content;
  readonly image: { readonly mediaType: string; readonly digest: Digest; readonly size: number; readonly annotations?: Readonly<Record<string, string>> | undefined };
  /** Bytes of layers, config and manifest. */
  readonly size: number;
  readonly platform: string;
  readonly names: readonly string[];
  readonly docker: boolean;
  readonly attestations: readonly Attestation[];
  /** The final filesystem's catalog, when the SBOM attestation made one. */
  readonly catalog: SbomResult | undefined;
  /** The final filesystem, to catalogue when no SBOM did. */
  readonly finalTarget: SbomTarget;
  readonly sources: readonly LayerSource[];
  readonly logs: readonly { readonly name: string; readonly text: string }[];
  readonly baseImages: BaseImages;
  readonly layers: LayerStore;
  readonly observe: ((facts: SupplyChainFacts) => void) | undefined;
  readonly warn: (message: string) => void;
  readonly signal: AbortSignal;
}

export interface SupplyChainResult {
  readonly attested: AttestResult;
  readonly secrets?: SecretReport | undefined;
  readonly vulns?: VulnReport | undefined;
  readonly verdict?: Verdict | undefined;
  readonly signed: boolean;
  /** The scan summary lines (secrets with layer/path/line, vuln counts with the data's source and age). */
  readonly summary: readonly string[];
}

function normalizedRef(text: string): string {
  try {
    return formatImageRef(parseImageRef(text));
  } catch {
    return text;
  }
}

export async function runSupplyChain(options: SupplyChainOptions): Promise<SupplyChainResult> {
  const { request, signal, warn } = options;
  let catalog: Promise<{ readonly packages: readonly SbomPackage[]; readonly distro: Distro | undefined }> | undefined = options.catalog === undefined ? undefined : Promise.resolve(options.catalog);
  // One catalog of the final filesystem, shared by the vuln scan and the policy.
  const packages = (): Promise<{ readonly packages: readonly SbomPackage[]; readonly distro: Distro | undefined }> => {
    catalog ??= (async () => {
      const rootfs = await options.finalTarget.rootfs(signal);
      try {
        return await catalogFilesystem(directoryScanFs(rootfs.path), { layerOf: options.finalTarget.layerOf, warn, signal });
      } finally {
        await rootfs[Symbol.asyncDispose]();
      }
    })();
    return catalog;
  };
  const provenance = options.attestations.find((a) => a.kind === 'provenance');
  let scanned: Awaited<ReturnType<typeof scanImage>> = { attestations: [] };
  if (request.secrets || request.vulns) {
    scanned = await scanImage({
      request, scanners: options.scanners ?? DEFAULT_SCANNERS, content: options.content, manifest: options.image.digest, name: options.names[0] ?? options.image.digest,
      sources: options.sources, provenance: provenance?.predicate, logs: options.logs, packages, vulnData: options.vulnData, warn, signal,
    });
  }
  for (const f of scanned.secrets?.findings ?? []) {
    warn(`secret found (${f.rule}): ${f.site === 'layer' ? `layer ${f.layer?.index ?? '?'} ` : `${f.site} `}${f.path}${f.line === undefined ? '' : `:${f.line}`}${f.deleted === true ? ' (deleted by a later layer, still in the image)' : ''}${f.source === undefined ? '' : `, made by ${f.source.file}:${f.source.line}`} ${f.fingerprint}`);
  }
  const summary = scanSummary(scanned);
  const sbomAttached = options.attestations.some((a) => a.kind === 'sbom' && a.path === 'sbom.spdx.json');
  const facts = (signed: boolean): SupplyChainFacts => ({
    sbom: sbomAttached,
    provenance: provenance !== undefined,
    signed,
    ...(scanned.vulns === undefined ? {} : { vulns: { hasData: scanned.vulns.hasData, counts: scanned.vulns.counts } }),
    ...(scanned.secrets === undefined ? {} : { secrets: scanned.secrets.findings.length }),
  });
  let verdict: Verdict | undefined;
  if (options.policy !== undefined) {
    const stored = await readStoredImage(options.content, { digest: options.image.digest, mediaType: options.image.mediaType });
    const input = policyInput({
      name: options.names[0] ?? '',
      platform: options.platform,
      image: stored,
      size: options.size,
      bases: options.baseImages.resolved().map((b) => ({ ref: normalizedRef(b.ref), digest: b.digest })),
      packages: request.packages || catalog !== undefined ? (await packages()).packages : undefined,
      sbomAttached,
      provenance: provenance === undefined ? undefined : { predicateType: provenance.predicateType, predicate: provenance.predicate },
      secrets: scanned.secrets,
      vulns: scanned.vulns,
      signature: options.sign === undefined ? 'none' : 'build',
    });
    try {
      verdict = enforcePolicy(options.policy, input, options.names[0] ?? options.image.digest);
    } catch (error) {
      options.observe?.(facts(false));
      if (summary.length > 0 && error instanceof Error) error.message = `${error.message}\n${summary.join('\n')}`;
      throw error;
    }
  }
  const attested = await storeAttestations({ image: options.image, platform: options.platform, names: options.names, docker: options.docker, content: options.content, warn, signal }, [...options.attestations, ...scanned.attestations]);
  if (options.sign !== undefined) await options.sign(attested.index);
  options.observe?.(facts(options.sign !== undefined));
  return { attested, secrets: scanned.secrets, vulns: scanned.vulns, verdict, signed: options.sign !== undefined, summary: verdict === undefined ? summary : [...summary, ...formatVerdict(verdict).trimEnd().split('\n')] };
}

/**
 * The policy gate of the export pipeline (DESIGN.md: assemble → attest → scan → policy gate → sign →
 * export): the policy input object made from what the build (or `policy check`) knows about the
 * image, and the gate that stops the export when a rule fails. Nothing is exported, named or pushed
 * after a failing gate: the caller runs the exporters only when `enforcePolicy` returns.
 */
import type { SbomPackage } from '../attest/index.js';
import { StagecraftError } from '../core/index.js';
import type { StoredImage } from '../image/index.js';
import { evaluatePolicy, formatVerdict, type Policy, type PolicyInput, type Verdict } from '../policy/index.js';
import { SEVERITIES, type SecretReport, type Severity, type VulnReport } from '../scan/index.js';

export interface PolicyFacts {
  /** The image's first name, '' when unnamed. */
  readonly name: string;
  readonly platform: string;
  readonly image: StoredImage;
  /** Bytes of layers, config and manifest. */
  readonly size: number;
  /** The base images; undefined when nothing says (an image without provenance). */
  readonly bases: readonly { readonly ref: string; readonly digest: string }[] | undefined;
  /** The final filesystem's packages; undefined when it was not catalogued. */
  readonly packages: readonly SbomPackage[] | undefined;
  readonly sbomAttached: boolean;
  readonly provenance: { readonly predicateType: string; readonly predicate: Record<string, unknown> } | undefined;
  readonly secrets: SecretReport | undefined;
  readonly vulns: VulnReport | undefined;
  readonly signature: 'build' | 'verified' | 'found' | 'none';
}

const NO_COUNTS: Readonly<Record<Severity, number>> = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;

/** The policy input object (docs/policy.md) from the facts. */
export function policyInput(facts: PolicyFacts): PolicyInput {
  const { image } = facts;
  const config = image.config.config ?? {};
  // History entries that made a layer, in layer order (empty_layer entries made none).
  const layerHistory = (image.config.history ?? []).filter((h) => h.empty_layer !== true);
  return {
    image: {
      name: facts.name,
      digest: image.manifestDescriptor.digest,
      platform: facts.platform,
      config: { ...config },
      labels: { ...(config.Labels ?? {}) },
      user: config.User ?? '',
      size: facts.size,
      layers: image.layers.map((layer, i) => ({ digest: layer.digest, size: layer.size, createdBy: layerHistory[i]?.created_by ?? '' })),
    },
    bases: { known: facts.bases !== undefined, images: (facts.bases ?? []).map((b) => ({ ref: b.ref, digest: b.digest })) },
    sbom: {
      attached: facts.sbomAttached,
      cataloged: facts.packages !== undefined,
      packages: (facts.packages ?? []).map((p) => ({ name: p.name, version: p.version, type: p.type, purl: p.purl, layer: p.locations[0]?.layer ?? '', path: p.locations[0]?.path ?? '' })),
    },
    vulnerabilities: facts.vulns === undefined
      ? { scanned: false, hasData: false, sources: [], findings: [], counts: NO_COUNTS }
      : {
          scanned: true,
          hasData: facts.vulns.hasData,
          sources: facts.vulns.sources.map((s) => ({ kind: s.kind, name: s.name, updated: s.updated ?? '' })),
          findings: facts.vulns.findings.map((f) => ({ id: f.id, aliases: [...f.aliases], package: f.package.name, version: f.package.version, ecosystem: f.package.ecosystem, severity: f.severity, fixedVersion: f.fixedVersion ?? '', fixed: f.fixedVersion !== undefined && f.fixedVersion !== '', source: f.source })),
          counts: { ...facts.vulns.counts },
        },
    secrets: facts.secrets === undefined
      ? { scanned: false, findings: [] }
      : { scanned: true, findings: facts.secrets.findings.map((f) => ({ rule: f.rule, site: f.site, path: f.path, layer: f.layer?.index ?? -1, line: f.line ?? 0, deleted: f.deleted === true, fingerprint: f.fingerprint })) },
    provenance: facts.provenance === undefined ? { present: false, predicateType: '', predicate: {} } : { present: true, predicateType: facts.provenance.predicateType, predicate: facts.provenance.predicate },
    signature: { signed: facts.signature !== 'none', how: facts.signature },
  };
}

/** Evaluates the policy; a failing verdict is POLICY_DENIED whose message lists every rule with its evidence. */
export function enforcePolicy(policy: Policy, input: PolicyInput, what: string): Verdict {
  const verdict = evaluatePolicy(policy, input);
  if (!verdict.passed) {
    throw new StagecraftError('POLICY_DENIED', `${what} failed the policy gate; nothing was exported or pushed\n${formatVerdict(verdict).trimEnd()}`, {
      hint: 'fix what the failing rules name, or change the policy (docs/policy.md)',
    });
  }
  return verdict;
}

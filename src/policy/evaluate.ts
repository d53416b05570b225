/**
 * Evaluation: every rule of a policy over one `PolicyInput`, each with pass/fail and the evidence
 * that decided it. Missing data is a failure that says so ("no vulnerability data", "not scanned
 * for secrets"), never a silent pass.
 */
import { familiarImageRef, familiarName, formatImageRef, imageRefName, parseImageRef } from '../core/index.js';
import type { Severity } from '../scan/index.js';
import { RULE_NAMES, formatSize, type MaxSeverity, type Policy, type RuleName } from './file.js';
import type { PolicyBase, PolicyInput, PolicyVulnerability } from './input.js';

export interface RuleResult {
  /** The declarative rule (`maxSize`) or the CEL rule's name. */
  readonly name: string;
  readonly kind: 'rule' | 'cel';
  readonly passed: boolean;
  /** Why: `size 812 MB > 500 MB`, `gcc 4:12.2.0-3 (deb) found in final stage`. At most `MAX_EVIDENCE` lines. */
  readonly evidence: readonly string[];
}

export interface Verdict {
  /** The policy file. */
  readonly policy: string;
  readonly passed: boolean;
  readonly results: readonly RuleResult[];
}

export const MAX_EVIDENCE = 20;

function capped(lines: readonly string[]): string[] {
  if (lines.length <= MAX_EVIDENCE) return [...lines];
  return [...lines.slice(0, MAX_EVIDENCE - 1), `… and ${lines.length - MAX_EVIDENCE + 1} more`];
}

/** A glob (`*` any run of characters, `?` one) as an anchored regular expression. */
export function globRegExp(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${body}$`);
}

const RANK: Readonly<Record<Severity, number>> = { LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4, UNKNOWN: 3 };

/** How a severity compares under `maxSeverity`: UNKNOWN counts as HIGH (unknown is not safe); NONE allows nothing. */
function rank(severity: Severity): number {
  return RANK[severity];
}

function maxRank(max: MaxSeverity): number {
  return max === 'NONE' ? 0 : RANK[max];
}

function isRoot(user: string): boolean {
  const name = user.split(':')[0] ?? '';
  return name === '' || name === 'root' || name === '0';
}

/** Whether a base image matches an `allowedBases` pattern (docs/policy.md). */
export function baseAllowed(base: PolicyBase, pattern: string): boolean {
  if (pattern.startsWith('sha256:')) return base.digest === pattern;
  let ref;
  try {
    ref = parseImageRef(base.ref);
  } catch {
    return globRegExp(pattern).test(base.ref);
  }
  // A glob is matched against the full reference, name@digest, the familiar form and the repository alone (any tag).
  const forms = [formatImageRef(ref), `${imageRefName(ref)}@${base.digest}`, familiarImageRef(ref), imageRefName(ref), familiarName(ref)];
  if (!/[*?]/.test(pattern)) {
    let wanted;
    try {
      wanted = parseImageRef(pattern);
    } catch {
      return false;
    }
    if (imageRefName(wanted) !== imageRefName(ref)) return false;
    // `debian` allows any tag of the repository; `debian:12` that tag; `debian@sha256:…` that content.
    const explicitTag = /:[^/]*$/.test(pattern.split('@')[0] ?? '');
    if (wanted.digest !== undefined && wanted.digest !== base.digest && wanted.digest !== ref.digest) return false;
    if (explicitTag && wanted.tag !== ref.tag) return false;
    return true;
  }
  const regexp = globRegExp(pattern);
  return forms.some((form) => regexp.test(form));
}

function vulnLine(v: PolicyVulnerability): string {
  return `${v.id} ${v.severity} in ${v.package} ${v.version}${v.fixed ? ` (fixed in ${v.fixedVersion})` : ' (no fix named)'}`;
}

function sourcesText(input: PolicyInput): string {
  const sources = input.vulnerabilities.sources;
  if (sources.length === 0) return 'no data source';
  return sources.map((s) => `${s.name}${s.updated === '' ? '' : `, updated ${s.updated}`}`).join('; ');
}

function evaluateRule(name: RuleName, policy: Policy, input: PolicyInput): RuleResult | undefined {
  const rules = policy.rules;
  const result = (passed: boolean, evidence: readonly string[]): RuleResult => ({ name, kind: 'rule', passed, evidence: capped(evidence) });
  switch (name) {
    case 'maxSize': {
      const limit = rules.maxSize;
      if (limit === undefined) return undefined;
      const size = input.image.size;
      const text = `size ${formatSize(size, limit.unit)} ${size > limit.bytes ? '>' : '<='} ${formatSize(limit.bytes, limit.unit)}`;
      return result(size <= limit.bytes, [`${text} (${size} bytes)`]);
    }
    case 'forbidRootUser': {
      if (rules.forbidRootUser !== true) return undefined;
      const user = input.image.user;
      if (isRoot(user)) return result(false, [user === '' ? 'runs as root: the image sets no USER' : `runs as root: USER ${user}`]);
      return result(true, [`runs as USER ${user}`]);
    }
    case 'forbidPackages': {
      const patterns = rules.forbidPackages;
      if (patterns === undefined) return undefined;
      if (!input.sbom.cataloged) return result(false, ['no package data: the final filesystem was not catalogued']);
      const regexps = patterns.map(globRegExp);
      const found = input.sbom.packages.filter((p) => regexps.some((r) => r.test(p.name)));
      if (found.length === 0) return result(true, [`none of ${patterns.join(', ')} among ${input.sbom.packages.length} packages of the final stage`]);
      return result(false, found.map((p) => `${p.name} ${p.version} (${p.type}) found in final stage${p.path === '' ? '' : `: ${p.path}`}${p.layer === '' ? '' : `, layer ${p.layer}`}`));
    }
    case 'allowedBases': {
      const patterns = rules.allowedBases;
      if (patterns === undefined) return undefined;
      if (!input.bases.known) return result(false, ['no base image data: nothing says which images the build started from (no provenance)']);
      if (input.bases.images.length === 0) return result(true, ['no base images (FROM scratch)']);
      const lines: string[] = [];
      let passed = true;
      for (const base of input.bases.images) {
        const match = patterns.find((p) => baseAllowed(base, p));
        if (match === undefined) passed = false;
        lines.push(match === undefined ? `base ${base.ref} (${base.digest}) matches none of ${patterns.join(', ')}` : `base ${base.ref} (${base.digest}) allowed by ${match}`);
      }
      return result(passed, lines);
    }
    case 'requireSbom':
      if (rules.requireSbom !== true) return undefined;
      return result(input.sbom.attached, [input.sbom.attached ? 'an SBOM attestation is attached' : 'no SBOM attestation (build with --sbom=true)']);
    case 'requireProvenance':
      if (rules.requireProvenance !== true) return undefined;
      return result(input.provenance.present, [input.provenance.present ? `a provenance attestation is attached (${input.provenance.predicateType})` : 'no provenance attestation (build with --provenance=mode=max)']);
    case 'requireSignature': {
      if (rules.requireSignature !== true) return undefined;
      const s = input.signature;
      const how = { build: 'the build signs the image', verified: 'a signature of the image verifies with the given key', found: 'a signature of the image was found (not verified: no key given)', none: 'the image is not signed (build with --sign key=FILE, or stagecraft sign)' } as const;
      return result(s.signed, [how[s.how]]);
    }
    case 'maxSeverity': {
      const max = rules.maxSeverity;
      if (max === undefined) return undefined;
      const v = input.vulnerabilities;
      if (!v.scanned) return result(false, ['not scanned for vulnerabilities (add --scan vulns)']);
      if (!v.hasData) return result(false, [`no vulnerability data (${sourcesText(input)}): the image's packages were not covered, so nothing is known`]);
      const counted = v.findings.filter((f) => !max.fixedOnly || f.fixed);
      const over = counted.filter((f) => rank(f.severity) > maxRank(max.severity));
      const scope = max.fixedOnly ? ' with a fix' : '';
      if (over.length === 0) return result(true, [`${counted.length} vulnerabilities${scope}, none above ${max.severity} (${sourcesText(input)})`]);
      return result(false, [`${over.length} vulnerabilities${scope} above ${max.severity} (${sourcesText(input)})`, ...over.map(vulnLine)]);
    }
    case 'noSecrets': {
      if (rules.noSecrets !== true) return undefined;
      const s = input.secrets;
      if (!s.scanned) return result(false, ['not scanned for secrets (add --scan secrets)']);
      if (s.findings.length === 0) return result(true, ['no secrets found']);
      return result(false, s.findings.map((f) => `${f.rule} at ${f.site === 'layer' ? `layer ${f.layer} ` : `${f.site} `}${f.path}${f.line > 0 ? `:${f.line}` : ''}${f.deleted ? ' (deleted by a later layer, still in the image)' : ''} [${f.fingerprint}]`));
    }
  }
}

/** Every declarative rule the policy sets (in RULE_NAMES order), then its CEL rules (in file order). */
export function evaluatePolicy(policy: Policy, input: PolicyInput): Verdict {
  const results: RuleResult[] = [];
  for (const name of RULE_NAMES) {
    const r = evaluateRule(name, policy, input);
    if (r !== undefined) results.push(r);
  }
  for (const rule of policy.cel) {
    const outcome = rule.program(input);
    if (!outcome.ok) results.push({ name: rule.name, kind: 'cel', passed: false, evidence: [`evaluation failed: ${outcome.error}`] });
    else results.push({ name: rule.name, kind: 'cel', passed: outcome.value, evidence: [outcome.value ? `true: ${rule.expression}` : `false: ${rule.message ?? rule.expression}`] });
  }
  return { policy: policy.file, passed: results.every((r) => r.passed), results };
}

/** The verdict as the CLI prints it: one line per rule, its evidence indented. */
export function formatVerdict(verdict: Verdict): string {
  const failed = verdict.results.filter((r) => !r.passed).length;
  const lines = [`policy ${verdict.policy}: ${verdict.passed ? 'PASS' : 'FAIL'} (${verdict.results.length - failed} passed, ${failed} failed)`];
  for (const r of verdict.results) {
    lines.push(`  ${r.passed ? 'pass' : 'FAIL'}  ${r.kind === 'cel' ? `cel:${r.name}` : r.name}`);
    for (const e of r.evidence) lines.push(`          ${e}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Which scans a policy needs to be decided (the build runs them even without `--scan`). */
export function scansNeeded(policy: Policy): { readonly secrets: boolean; readonly vulns: boolean; readonly packages: boolean } {
  const celText = policy.cel.map((c) => c.expression).join('\n');
  return {
    secrets: policy.rules.noSecrets === true || /\bsecrets\b/.test(celText),
    vulns: policy.rules.maxSeverity !== undefined || /\bvulnerabilities\b/.test(celText),
    packages: policy.rules.forbidPackages !== undefined || /\bsbom\b/.test(celText),
  };
}

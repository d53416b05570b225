export { SEVERITIES, type SecretFinding, type SecretReport, type SecretSite, type Severity, type VulnFinding, type VulnReport, type VulnSource } from './types.js';
export {
  DEFAULT_MAX_FILE_BYTES,
  SENSITIVE_NAME_RULE,
  STAGECRAFT_RULES,
  fingerprint,
  redact,
  scanImageSecrets,
  type InstructionSource,
  type ScanImageSecretsInput,
} from './secrets/index.js';
export {
  VULN_PREDICATE_TYPE,
  aptDebianMirror,
  scanVulnerabilities,
  vulnPredicate,
  vulnSummary,
  vulnTable,
  withVulnerabilities,
  type ScanVulnerabilitiesInput,
  type VulnDataOptions,
  type VulnDistro,
  type VulnPackage,
  type VulnPredicateSubject,
} from './vulns/index.js';

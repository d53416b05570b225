export { SEVERITIES, type SecretFinding, type SecretReport, type SecretSite, type Severity, type VulnFinding, type VulnReport, type VulnSource } from './types.js';

export { LINT_RULES, RULE_INFO, checkConfigOf, lintDockerfile, type LintResult, type LintRunOptions } from './lint.js';
export { parseCheckOptions, resolveCheckConfig, CheckOptionError, type CheckConfig } from './config.js';
export { isCredentialsPath, OWN_DOCS } from './stagecraft-rules.js';
export type { BaseImageInfo, LintFinding, LintLevel, LintLocation, LintOptions, LintRule } from './types.js';

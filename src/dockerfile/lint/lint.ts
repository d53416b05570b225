/**
 * The check runner: parses the Dockerfile, builds the model, runs every rule the configuration enables
 * (BuildKit's Linter.Run: experimental rules only when named, others unless skipped) and returns the
 * findings sorted by line. Pure: the caller reads files and decides what a finding does to a build.
 */
import { closest } from '../../core/index.js';
import { parseStages } from '../instructions/index.js';
import { parseDockerfile } from '../syntax/index.js';
import { BUILDKIT_RULES } from './buildkit-rules.js';
import { DEFAULT_CHECK_CONFIG, checkConfigOfComment, mergeCheckConfig, resolveCheckConfig, type CheckConfig } from './config.js';
import { buildLintModel } from './model.js';
import { STAGECRAFT_RULES, UNKNOWN_CHECK_RULE } from './stagecraft-rules.js';
import type { LintFinding, LintOptions, LintRule, RuleReport } from './types.js';

/** Every rule, BuildKit's first, in the order of their documentation. */
export const LINT_RULES: readonly LintRule[] = [...BUILDKIT_RULES, ...STAGECRAFT_RULES];

/** Rule data for listings (docs, SARIF): every rule plus UnknownCheckRule, which the runner reports itself. */
export const RULE_INFO: readonly Omit<LintRule, 'check'>[] = [...LINT_RULES, UNKNOWN_CHECK_RULE];

const RULE_NAMES = RULE_INFO.map((r) => r.name);

export interface LintResult {
  readonly findings: readonly LintFinding[];
  readonly config: CheckConfig;
  /** Rules with at least one finding, for the `error=true` failure message (BuildKit's CalledRules). */
  readonly violated: readonly string[];
}

export interface LintRunOptions extends LintOptions {
  /** The `BUILDKIT_DOCKERFILE_CHECK` build arg (replaces the directive). */
  readonly checkArg?: string | undefined;
}

function enabled(rule: Pick<LintRule, 'name' | 'experimental'>, config: CheckConfig): boolean {
  if (rule.experimental) return config.experimentalAll || config.experimental.has(rule.name);
  return !config.skipAll && !config.skip.has(rule.name);
}

/** The check configuration a Dockerfile and build arg ask for; throws for a malformed one (so a build can fail before any work). */
export function checkConfigOf(text: string, file: string, checkArg: string | undefined): CheckConfig {
  const directive = parseDockerfile(text, { file }).directives.find((d) => d.name === 'check');
  return resolveCheckConfig({ file, buildArg: checkArg, directive: directive === undefined ? undefined : { value: directive.value, line: directive.range.start.line } });
}

/** Runs the checks over one Dockerfile. Throws what parsing throws (a syntax error is no finding). */
export function lintDockerfile(text: string, options: LintRunOptions): LintResult {
  const ast = parseDockerfile(text, { file: options.file });
  const parsed = parseStages(ast, options.file);
  const directive = ast.directives.find((d) => d.name === 'check');
  const config = resolveCheckConfig({
    file: options.file,
    buildArg: options.checkArg,
    directive: directive === undefined ? undefined : { value: directive.value, line: directive.range.start.line },
  });
  const model = buildLintModel(ast, parsed, options);
  const findings: LintFinding[] = [];
  const violated = new Set<string>();
  const level = config.error ? 'error' : 'warning';

  // Unknown names in skip=/experimental= (BuildKit ignores them silently; a typo would hide nothing).
  const checkLine = options.checkArg !== undefined ? undefined : directive?.range.start.line;
  for (const name of [...config.skip, ...config.experimental]) {
    if (name === '' || RULE_NAMES.includes(name) || !enabled(UNKNOWN_CHECK_RULE, config)) continue;
    const guess = closest(name, RULE_NAMES, true);
    findings.push({
      rule: UNKNOWN_CHECK_RULE.name,
      message: `Unknown check rule '${name}'${guess !== undefined ? ` (did you mean ${guess}?)` : ''}${checkLine === undefined ? ' in BUILDKIT_DOCKERFILE_CHECK' : ''}`,
      location: { file: options.file, line: checkLine ?? 1, column: 1 },
      fix: guess !== undefined ? `write ${guess}` : 'use a rule name from docs/checks.md (stagecraft lint --list-rules)',
      url: UNKNOWN_CHECK_RULE.url,
      level,
    });
    violated.add(UNKNOWN_CHECK_RULE.name);
  }

  for (const rule of LINT_RULES) {
    if (rule.needs === 'image' && !model.imagesKnown) continue;
    const seen = new Set<string>();
    rule.check(model, (report: RuleReport) => {
      let effective = config;
      for (const comment of report.comments ?? []) {
        const local = checkConfigOfComment(comment);
        if (local !== undefined) effective = mergeCheckConfig(effective, local);
      }
      if (!enabled(rule, effective)) return;
      const key = `${report.range.start.line}:${report.message}`;
      if (seen.has(key)) return;
      seen.add(key);
      violated.add(rule.name);
      findings.push({
        rule: rule.name,
        message: report.message,
        location: { file: options.file, line: report.range.start.line, column: report.range.start.column },
        fix: report.fix,
        url: rule.url,
        level,
      });
    });
  }
  findings.sort((a, b) => a.location.line - b.location.line || a.rule.localeCompare(b.rule));
  return { findings, config, violated: [...violated].sort() };
}

export { DEFAULT_CHECK_CONFIG };

/**
 * How build-check results are printed: buildx's `--check` text, stagecraft's one-line text, JSON and
 * SARIF 2.1.0 (OASIS; tool.driver.rules and results with physical locations).
 */
import { RULE_INFO, type LintFinding, type LintResult } from '../dockerfile/index.js';

/** The Dockerfile lines around `line`, the reported one marked `>>>` (BuildKit's source excerpt). */
function sourceExcerpt(text: string, line: number): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const first = Math.max(1, line - 2);
  const last = Math.min(lines.length, line + 2);
  const width = String(last).length;
  const out = ['--------------------'];
  for (let n = first; n <= last; n++) out.push(` ${String(n).padStart(width + 1)} | ${n === line ? '>>> ' : '    '}${lines[n - 1] ?? ''}`);
  out.push('--------------------');
  return out;
}

/** `docker build --check`'s report: the count, then each warning with its URL, message, place and excerpt. */
export function checkText(result: LintResult, dockerfileText: string): string {
  const n = result.findings.length;
  if (n === 0) return 'Check complete, no warnings found.\n';
  const out = [`Check complete, ${n === 1 ? '1 warning has been found!' : `${n} warnings have been found!`}`];
  for (const f of result.findings) {
    out.push('', `WARNING: ${f.rule} - ${f.url}`, f.message, `${f.location.file}:${f.location.line}`, ...sourceExcerpt(dockerfileText, f.location.line), `fix: ${f.fix}`);
  }
  return `${out.join('\n')}\n`;
}

/** `stagecraft lint`'s text: one `file:line:column: Rule: message` line and its fix per finding. */
export function lintText(result: LintResult): string {
  return result.findings.map((f) => `${f.location.file}:${f.location.line}:${f.location.column ?? 1}: ${f.level}: ${f.rule}: ${f.message}\n  fix: ${f.fix}\n  see: ${f.url}\n`).join('')
    + `${result.findings.length === 1 ? '1 warning' : `${result.findings.length} warnings`}\n`;
}

export function lintJson(result: LintResult): string {
  const value = {
    findings: result.findings.map((f: LintFinding) => ({ rule: f.rule, level: f.level, message: f.message, location: f.location, fix: f.fix, url: f.url })),
    error: result.config.error && result.violated.length > 0 ? { message: `lint violation found for rules: ${result.violated.join(', ')}` } : undefined,
  };
  return `${JSON.stringify(value, null, 2)}\n`;
}

const isAbsoluteUri = (url: string): boolean => /^[a-z][a-z0-9+.-]*:/i.test(url);

/** SARIF 2.1.0: one run, every rule in tool.driver.rules (experimental ones disabled by default), one result per finding. */
export function lintSarif(result: LintResult, toolVersion: string): string {
  const rules = RULE_INFO.map((rule) => ({
    id: rule.name,
    name: rule.name,
    shortDescription: { text: rule.description },
    ...(isAbsoluteUri(rule.url) ? { helpUri: rule.url } : { help: { text: `See ${rule.url} in the stagecraft documentation.` } }),
    defaultConfiguration: { enabled: !rule.experimental, level: 'warning' as const },
    properties: { tags: [rule.origin, ...(rule.experimental ? ['experimental'] : [])] },
  }));
  const index = new Map(RULE_INFO.map((r, i) => [r.name, i]));
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0' as const,
    runs: [{
      tool: { driver: { name: 'stagecraft', version: toolVersion, rules } },
      results: result.findings.map((f) => ({
        ruleId: f.rule,
        ruleIndex: index.get(f.rule) ?? -1,
        level: f.level,
        message: { text: `${f.message}. Fix: ${f.fix}` },
        locations: [{
          physicalLocation: {
            artifactLocation: { uri: encodeURI(f.location.file.replace(/\\/g, '/')) },
            region: { startLine: f.location.line, ...(f.location.column !== undefined ? { startColumn: f.location.column } : {}) },
          },
        }],
      })),
    }],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

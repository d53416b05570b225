/**
 * `stagecraft lint` (text, JSON, SARIF 2.1.0 validated against the schema's rules), `build --check` and
 * `build --call check` exit statuses and output, run in-process through the CLI's `main`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { initialPlainState, renderPlain } from '../../src/cli/progress/plain.js';
import { warningSummary } from '../../src/cli/progress/text.js';
import { initialTtyState, reduceTty, ttyFrame } from '../../src/cli/progress/tty.js';
import { RULE_INFO } from '../../src/dockerfile/index.js';
import { SarifLog } from '../helpers/sarif-schema.js';

const dirs: string[] = [];
after(() => { for (const dir of dirs) rmSync(dir, { recursive: true, force: true }); });

function context(dockerfile: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'stagecraft-lint-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

async function run(args: readonly string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const status = await main(args, { stdout: (t) => { stdout += t; }, stderr: (t) => { stderr += t; } });
  return { status, stdout, stderr };
}

const PINNED = `alpine@sha256:${'a'.repeat(64)}`;
const CLEAN = `FROM ${PINNED} AS app\nRUN adduser -S app\nUSER app\nCMD ["true"]\n`;
const DIRTY = `FROM ${PINNED}\nMAINTAINER me\nCMD echo hi\n`;

describe('stagecraft lint', () => {
  it('--format sarif is valid SARIF 2.1.0: every rule described, results located, levels from the configuration', async () => {
    const dir = context(DIRTY);
    const out = await run(['lint', '--format', 'sarif', dir]);
    assert.equal(out.status, 1, out.stderr);
    const sarif = SarifLog.parse(JSON.parse(out.stdout));
    const [runLog] = sarif.runs;
    assert.ok(runLog !== undefined);
    const rules = runLog.tool.driver.rules ?? [];
    assert.deepEqual(rules.map((r) => r.id), RULE_INFO.map((r) => r.name));
    assert.equal(rules.find((r) => r.id === 'JSONArgsRecommended')?.helpUri, 'https://docs.docker.com/go/dockerfile/rule/json-args-recommended/');
    assert.equal(rules.find((r) => r.id === 'InvalidDefinitionDescription')?.defaultConfiguration?.enabled, false, 'experimental rules are off by default');
    const results = runLog.results ?? [];
    assert.deepEqual(results.map((r) => [r.ruleId, r.level, r.locations?.[0]?.physicalLocation?.region?.startLine]).sort(),
      [['FinalStageRunsAsRoot', 'warning', 1], ['JSONArgsRecommended', 'warning', 3], ['MaintainerDeprecated', 'warning', 2]]);
    for (const result of results) assert.equal(rules[result.ruleIndex ?? -1]?.id, result.ruleId, 'ruleIndex points at the rule');
    assert.match(results[0]?.locations?.[0]?.physicalLocation?.artifactLocation.uri ?? '', /Dockerfile$/);

    const errors = await run(['lint', '--format', 'sarif', context(`# check=error=true\n${DIRTY}`)]);
    assert.ok(SarifLog.parse(JSON.parse(errors.stdout)).runs[0]?.results?.every((r) => r.level === 'error'));
  });

  it('the SARIF schema rejects what SARIF 2.1.0 forbids', () => {
    const valid = { version: '2.1.0', runs: [{ tool: { driver: { name: 'x', rules: [{ id: 'A' }] } }, results: [{ ruleId: 'A', level: 'warning', message: { text: 'm' }, locations: [{ physicalLocation: { artifactLocation: { uri: 'Dockerfile' }, region: { startLine: 1 } } }] }] }] };
    assert.doesNotThrow(() => SarifLog.parse(valid));
    const broken = (edit: (log: typeof valid & Record<string, unknown>) => void): unknown => {
      const copy = structuredClone(valid) as typeof valid & Record<string, unknown>;
      edit(copy);
      return copy;
    };
    const cases: unknown[] = [
      broken((l) => { l.version = '2.0.0'; }),
      broken((l) => { l.extra = 1; }),
      broken((l) => { const r = l.runs[0]?.results[0] as Record<string, unknown>; r.level = 'warn'; }),
      broken((l) => { const r = l.runs[0]?.results[0] as Record<string, unknown>; delete r.message; }),
      broken((l) => { const r = l.runs[0]?.results[0] as Record<string, unknown>; r.message = {}; }),
      broken((l) => { const region = l.runs[0]?.results[0]?.locations[0]?.physicalLocation.region as Record<string, unknown>; region.startLine = 0; }),
      broken((l) => { const loc = l.runs[0]?.results[0]?.locations[0]?.physicalLocation.artifactLocation as Record<string, unknown>; loc.uri = 'has space'; }),
      broken((l) => { const rules = l.runs[0]?.tool.driver.rules as unknown[]; rules.push({ id: 'A' }); }),
      broken((l) => { const rule = l.runs[0]?.tool.driver.rules[0] as Record<string, unknown>; rule.helpUri = 'docs/checks.md'; }),
      broken((l) => { delete (l.runs[0]?.tool.driver as Record<string, unknown>).name; }),
    ];
    for (const [i, log] of cases.entries()) assert.equal(SarifLog.safeParse(log).success, false, `case ${i} must be rejected`);
  });

  it('--format json and text: findings with rule, location and fix; exit 0 without findings, 1 with', async () => {
    const dirty = context(DIRTY);
    const json = await run(['lint', '--format', 'json', dirty]);
    assert.equal(json.status, 1);
    const parsed = JSON.parse(json.stdout) as { findings: { rule: string; location: { line: number }; fix: string }[] };
    assert.deepEqual(parsed.findings.map((f) => [f.rule, f.location.line]), [['FinalStageRunsAsRoot', 1], ['MaintainerDeprecated', 2], ['JSONArgsRecommended', 3]]);
    const text = await run(['lint', dirty]);
    assert.equal(text.status, 1);
    assert.match(text.stdout, /Dockerfile:2:1: warning: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label\n {2}fix: write LABEL org\.opencontainers\.image\.authors="me"\n/);
    assert.match(text.stdout, /\n3 warnings\n$/);
    const clean = await run(['lint', context(CLEAN)]);
    assert.equal(clean.status, 0, clean.stdout);
    assert.equal(clean.stdout, '0 warnings\n');
  });

  it('bad input: an unknown rule in # check= is a warning with a suggestion; a malformed option fails with its line; an unknown --format is a usage error', async () => {
    const typo = await run(['lint', context(`# check=skip=MaintainerDeprecatd\n${DIRTY}`)]);
    assert.match(typo.stdout, /Dockerfile:1:1: warning: UnknownCheckRule: Unknown check rule 'MaintainerDeprecatd' \(did you mean MaintainerDeprecated\?\)/);
    const malformed = await run(['lint', context(`# check=skip\n${DIRTY}`)]);
    assert.equal(malformed.status, 3);
    assert.match(malformed.stderr, /Dockerfile:1: failed to parse check options: invalid check option "skip"/);
    assert.equal((await run(['lint', '--format', 'xml', context(CLEAN)])).status, 2);
  });

  it('reads .dockerignore of the context (CopyIgnoredFile) and spots credentials files a COPY . takes along', async () => {
    const dir = context(`FROM ${PINNED}\nCOPY . /app\nCOPY notes.txt /\nUSER 1000\n`, { '.dockerignore': 'notes.txt\n', '.npmrc': '//registry/:_authToken=x\n' });
    const out = await run(['lint', '--format', 'json', dir]);
    const rules = (JSON.parse(out.stdout) as { findings: { rule: string; location: { line: number } }[] }).findings.map((f) => `${f.rule}@${f.location.line}`);
    assert.deepEqual(rules, ['CredentialsInFinalStage@2', 'CopyIgnoredFile@3']);
    writeFileSync(join(dir, '.dockerignore'), 'notes.txt\n.npmrc\n');
    const ignored = await run(['lint', '--format', 'json', dir]);
    assert.deepEqual((JSON.parse(ignored.stdout) as { findings: { rule: string }[] }).findings.map((f) => f.rule), ['CopyIgnoredFile']);
  });
});

describe('build --check / --call check', () => {
  it('prints as docker build --check and exits 1 with warnings, 0 without; nothing is built', async () => {
    const out = await run(['build', '--check', context(DIRTY)]);
    assert.equal(out.status, 1, out.stderr);
    assert.match(out.stdout, /^Check complete, 3 warnings have been found!\n/);
    assert.match(out.stdout, /\nWARNING: MaintainerDeprecated - https:\/\/docs\.docker\.com\/go\/dockerfile\/rule\/maintainer-deprecated\/\nMaintainer instruction is deprecated in favor of using label\n.*Dockerfile:2\n-{20}\n/);
    assert.match(out.stdout, / 2 \| >>> MAINTAINER me\n/);
    const clean = await run(['build', '--check', context(CLEAN)]);
    assert.equal(clean.status, 0, clean.stderr);
    assert.equal(clean.stdout, 'Check complete, no warnings found.\n');
  });

  it('--call check,ignorestatus=true exits 0; format=json prints the findings; error=true adds the failure', async () => {
    const dirty = context(DIRTY);
    assert.equal((await run(['build', '--call', 'check,ignorestatus=true', dirty])).status, 0);
    const json = await run(['build', '--call', 'check,format=json', dirty]);
    assert.equal(json.status, 1);
    assert.equal((JSON.parse(json.stdout) as { findings: unknown[] }).findings.length, 3);
    const strict = await run(['build', '--check', context(`# check=error=true\n${DIRTY}`)]);
    assert.equal(strict.status, 1);
    assert.match(strict.stdout, /\nERROR: lint violation found for rules: FinalStageRunsAsRoot, JSONArgsRecommended, MaintainerDeprecated\n$/);
    const both = await run(['build', '--check', '--call', 'outline', dirty]);
    assert.equal(both.status, 2);
    assert.match(both.stderr, /--check and --call cannot be used together/);
  });

  it('BUILDKIT_DOCKERFILE_CHECK as a build arg configures --check', async () => {
    const out = await run(['build', '--check', '--build-arg', 'BUILDKIT_DOCKERFILE_CHECK=skip=MaintainerDeprecated,FinalStageRunsAsRoot', context(DIRTY)]);
    assert.match(out.stdout, /^Check complete, 1 warning has been found!\n\nWARNING: JSONArgsRecommended/);
  });
});

describe('warnings in the progress renderers', () => {
  const warning = { type: 'build.warning' as const, time: 1, message: 'Maintainer instruction is deprecated in favor of using label', rule: 'MaintainerDeprecated', location: { file: 'Dockerfile', line: 2, column: 1 }, url: 'https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/', detail: 'write LABEL org.opencontainers.image.authors="me"' };
  const plainWarning = { type: 'build.warning' as const, time: 1, message: 'one or more build-args [X] were not consumed' };

  it('plain prints file:line, rule, message and the fix; a plain warning as before', () => {
    assert.equal(renderPlain(initialPlainState, warning)[1], 'WARNING: Dockerfile:2: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label\n  fix: write LABEL org.opencontainers.image.authors="me"\n');
    assert.equal(renderPlain(initialPlainState, plainWarning)[1], 'WARNING: one or more build-args [X] were not consumed\n');
  });

  it('tty lists them with file:line and rule; the summary counts them as buildx', () => {
    const state = reduceTty(reduceTty(initialTtyState, warning), plainWarning);
    const frame = ttyFrame(state, 2, 200);
    assert.ok(frame.includes('WARNING: Dockerfile:2: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label'));
    assert.equal(warningSummary([warning, plainWarning]), '\n 2 warnings found:\n - MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (Dockerfile:2)\n   fix: write LABEL org.opencontainers.image.authors="me"\n - one or more build-args [X] were not consumed\n');
    assert.equal(warningSummary([]), '');
  });
});

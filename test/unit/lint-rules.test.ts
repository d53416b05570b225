/**
 * Every build-check rule: a Dockerfile that triggers it (at the expected line) and one that does not.
 * A rule added to the registry without a case here fails the first test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { StagecraftError, parsePlatform } from '../../src/core/index.js';
import { RULE_INFO, lintDockerfile, type BaseImageInfo, type LintRunOptions } from '../../src/dockerfile/index.js';
import { parseCheckOptions } from '../../src/dockerfile/lint/index.js';

const AMD64 = parsePlatform('linux/amd64');
const PINNED = `alpine@sha256:${'a'.repeat(64)}`;

function lint(text: string, options: Partial<LintRunOptions> = {}) {
  return lintDockerfile(text, { file: 'Dockerfile', buildPlatform: AMD64, ...options });
}
function linesOf(rule: string, text: string, options: Partial<LintRunOptions> = {}): number[] {
  return lint(text, options).findings.filter((f) => f.rule === rule).map((f) => f.location.line);
}

interface Case {
  readonly rule: string;
  /** Triggers the rule on `line`. */
  readonly bad: string;
  readonly line: number;
  /** Does not trigger it. */
  readonly good: string;
  readonly options?: Partial<LintRunOptions>;
  readonly goodOptions?: Partial<LintRunOptions>;
  readonly message?: RegExp;
}

const image = (fields: Partial<BaseImageInfo> = {}): BaseImageInfo => ({ env: ['PATH=/usr/bin'], os: 'linux', architecture: 'amd64', ...fields });

const CASES: readonly Case[] = [
  { rule: 'StageNameCasing', bad: 'FROM alpine AS Builder\n', line: 1, good: 'FROM alpine AS builder\n', message: /Stage name 'Builder' should be lowercase/ },
  { rule: 'FromAsCasing', bad: 'FROM alpine as builder\n', line: 1, good: 'FROM alpine AS builder\nfrom alpine as other\n', message: /'as' and 'FROM' keywords' casing do not match/ },
  { rule: 'NoEmptyContinuation', bad: 'FROM alpine\nRUN echo a \\\n\n  b\n', line: 4, good: 'FROM alpine\nRUN echo a \\\n  b\n', message: /Empty continuation line/ },
  { rule: 'ConsistentInstructionCasing', bad: 'FROM alpine\nrun echo\nRUN echo\n', line: 2, good: 'FROM alpine\nRUN echo\n', message: /Command 'run' should match the case of the command majority \(uppercase\)/ },
  { rule: 'DuplicateStageName', bad: 'FROM alpine AS a\nFROM alpine AS a\n', line: 2, good: 'FROM alpine AS a\nFROM alpine AS b\n', message: /Duplicate stage name "a"/ },
  { rule: 'ReservedStageName', bad: 'FROM alpine AS scratch\n', line: 1, good: 'FROM alpine AS base\n', message: /reserved stage "scratch"/ },
  { rule: 'JSONArgsRecommended', bad: 'FROM alpine\nCMD echo hi\n', line: 2, good: 'FROM alpine\nCMD ["echo","hi"]\nFROM alpine\nSHELL ["/bin/sh","-c"]\nENTRYPOINT echo hi\n', message: /JSON arguments recommended for CMD/ },
  { rule: 'MaintainerDeprecated', bad: 'FROM alpine\nMAINTAINER me@example.com\n', line: 2, good: 'FROM alpine\nLABEL org.opencontainers.image.authors=me\n' },
  { rule: 'UndefinedArgInFrom', bad: 'ARG TAGG=3\nFROM alpine:${TAG}\n', line: 2, good: 'ARG TAG=3\nFROM alpine:${TAG}\nFROM --platform=$BUILDPLATFORM alpine\n', message: /FROM argument 'TAG' is not declared \(did you mean TAGG\?\)/ },
  { rule: 'WorkdirRelativePath', bad: 'FROM alpine\nWORKDIR app\n', line: 2, good: 'FROM alpine\nWORKDIR /app\nWORKDIR sub\n', message: /Relative workdir "app"/ },
  { rule: 'UndefinedVar', bad: 'FROM scratch\nARG SOURCE=a\nCOPY $SOURCES /x\n', line: 3, good: 'FROM scratch\nARG SRC=a\nCOPY $SRC /x\nENV B=$PATH\n', message: /Usage of undefined variable '\$SOURCES' \(did you mean \$SOURCE\?\)/ },
  { rule: 'MultipleInstructionsDisallowed', bad: 'FROM alpine\nCMD ["a"]\nCMD ["b"]\n', line: 2, good: 'FROM alpine AS a\nCMD ["a"]\nFROM a\nCMD ["b"]\n', message: /Multiple CMD instructions/ },
  { rule: 'LegacyKeyValueFormat', bad: 'FROM alpine\nENV A b\n', line: 2, good: 'FROM alpine\nENV A=b\nLABEL x=y\n', message: /"ENV key=value" should be used instead of legacy "ENV key value" format/ },
  { rule: 'RedundantTargetPlatform', bad: 'FROM --platform=$TARGETPLATFORM alpine\n', line: 1, good: 'FROM --platform=$BUILDPLATFORM alpine\n' },
  { rule: 'SecretsUsedInArgOrEnv', bad: 'FROM alpine\nENV A=1\nARG GITHUB_TOKEN\n', line: 3, good: 'FROM alpine\nARG PUBLIC_KEY\nENV KEYBOARD=x\nARG TOKENIZER\n', message: /\(ARG "GITHUB_TOKEN"\)/ },
  { rule: 'InvalidDefaultArgInFrom', bad: 'ARG IMAGE\nFROM ${IMAGE}\n', line: 2, good: 'ARG IMAGE=alpine:3.20\nFROM ${IMAGE}\n', options: { buildArgs: new Map([['IMAGE', 'alpine']]) } },
  { rule: 'FromPlatformFlagConstDisallowed', bad: 'FROM --platform=linux/amd64 alpine AS build\n', line: 1, good: 'FROM --platform=linux/amd64 alpine AS build-amd64\n', message: /should not use constant value "linux\/amd64"/ },
  { rule: 'CopyIgnoredFile', bad: 'FROM alpine\nCOPY secret.txt app.txt /\n', line: 2, good: 'FROM alpine\nCOPY app.txt /\n', options: { dockerignore: ['secret.txt'] }, message: /Attempting to Copy file "secret.txt" that is excluded by .dockerignore/ },
  {
    rule: 'InvalidDefinitionDescription', bad: '# check=experimental=InvalidDefinitionDescription\n\n# the toolchain\nFROM alpine AS base\n', line: 4,
    good: '# check=experimental=InvalidDefinitionDescription\n\n# base the toolchain\nFROM alpine AS base\n\n# this one is not experimental-enabled below\n', message: /Comment for FROM should follow the format: `# base <description>`/,
  },
  { rule: 'ExposeProtoCasing', bad: 'FROM alpine\nEXPOSE 80/TCP\n', line: 2, good: 'FROM alpine\nEXPOSE 80/tcp 53/udp\n' },
  { rule: 'ExposeInvalidFormat', bad: 'FROM alpine\nEXPOSE 127.0.0.1:8080:80\n', line: 2, good: 'FROM alpine\nEXPOSE 80\n', message: /found '127.0.0.1:8080:80'/ },
  {
    rule: 'InvalidBaseImagePlatform', bad: 'FROM alpine\n', line: 1, good: 'FROM alpine\n',
    options: { baseImages: new Map([[0, image({ architecture: 'arm64', variant: 'v8' })]]) }, goodOptions: { baseImages: new Map([[0, image()]]) },
    message: /was pulled with platform "linux\/arm64\/v8", expected "linux\/amd64"/,
  },
  { rule: 'BuildToolsInFinalStage', bad: 'FROM debian\nRUN apt-get update && apt-get install -y --no-install-recommends gcc make libssl-dev curl\n', line: 2, good: 'FROM debian AS build\nRUN apt-get install -y gcc\nFROM debian\nRUN apk add --virtual .deps gcc && make && apk del .deps\n', message: /gcc, make, libssl-dev/ },
  { rule: 'CredentialsInFinalStage', bad: 'FROM alpine\nCOPY package.json .npmrc ./\n', line: 2, good: 'FROM alpine AS build\nCOPY .npmrc ./\nFROM alpine\nCOPY package.json ./\n', message: /\.npmrc/ },
  { rule: 'BaseImageNotPinned', bad: 'FROM alpine:3.20\n', line: 1, good: `FROM ${PINNED} AS a\nFROM a\nFROM scratch\n` },
  { rule: 'AptListsNotCleaned', bad: 'FROM debian\nRUN apt-get update && apt-get install -y curl\n', line: 2, good: 'FROM debian\nRUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get install -y git\n' },
  { rule: 'CopyAllBeforeDependencyInstall', bad: 'FROM node\nWORKDIR /app\nCOPY . .\nRUN npm ci\n', line: 3, good: 'FROM node\nWORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci\nCOPY . .\n', message: /dependency installation on line 4/ },
  { rule: 'TestStageNotInTarget', bad: 'FROM alpine AS unit-test\nRUN true\nFROM alpine AS app\n', line: 1, good: 'FROM alpine AS test\nRUN touch /ok\nFROM alpine AS app\nCOPY --from=test /ok /ok\n', message: /Test stage 'unit-test' is not built for target 'app'/ },
  { rule: 'FinalStageRunsAsRoot', bad: 'FROM alpine\nUSER app\nUSER root\n', line: 3, good: 'FROM alpine AS build\nFROM alpine\nUSER 10001:10001\n', message: /runs as root \(USER root\)/ },
  { rule: 'UnknownCheckRule', bad: '# check=skip=StageNameCasng\nFROM alpine\n', line: 1, good: '# check=skip=StageNameCasing\nFROM alpine\n', message: /Unknown check rule 'StageNameCasng' \(did you mean StageNameCasing\?\)/ },
];

describe('build-check rules', () => {
  it('every rule of the registry has a case, and each case names a rule', () => {
    assert.deepEqual(CASES.map((c) => c.rule).sort(), RULE_INFO.map((r) => r.name).sort());
  });

  for (const c of CASES) {
    it(`${c.rule}: triggered on line ${c.line}, not by the fixed Dockerfile`, () => {
      const findings = lint(c.bad, c.options).findings.filter((f) => f.rule === c.rule);
      assert.deepEqual(findings.map((f) => f.location.line), [c.line], JSON.stringify(lint(c.bad, c.options).findings, null, 1));
      const finding = findings[0];
      assert.ok(finding !== undefined);
      if (c.message !== undefined) assert.match(finding.message, c.message);
      assert.ok(finding.fix.length > 10, 'every finding says how to fix it');
      assert.equal(finding.url, RULE_INFO.find((r) => r.name === c.rule)?.url);
      assert.deepEqual(linesOf(c.rule, c.good, c.goodOptions ?? c.options), []);
    });
  }
});

describe('docs/checks.md', () => {
  it('documents exactly the rules of the registry, each with an example and a fix; our URLs point at their anchors', () => {
    const doc = readFileSync(new URL('../../docs/checks.md', import.meta.url), 'utf8');
    const sections = doc.split(/^### /m).slice(1);
    assert.deepEqual(sections.map((s) => s.split('\n', 1)[0]).sort(), RULE_INFO.map((r) => r.name).sort());
    for (const section of sections) {
      assert.match(section, /```dockerfile\n[\s\S]+?```/, `${section.split('\n', 1)[0] ?? ''} has an example`);
      assert.match(section, /\nFix: /, `${section.split('\n', 1)[0] ?? ''} has a fix`);
    }
    for (const rule of RULE_INFO) {
      if (rule.url.startsWith('https://')) continue;
      assert.equal(rule.url, `docs/checks.md#${rule.name.toLowerCase()}`);
    }
  });
});

describe('rule details', () => {
  it('UndefinedVar: a stage from an unresolved image is not judged (its ENV is unknown); with its config it is', () => {
    const text = 'FROM golang\nWORKDIR $GOPATH/src\nCOPY $NOPE /x\n';
    assert.deepEqual(linesOf('UndefinedVar', text), []);
    const known = { baseImages: new Map([[0, image({ env: ['PATH=/usr/bin', 'GOPATH=/go'] })]]) };
    assert.deepEqual(lint(text, known).findings.filter((f) => f.rule === 'UndefinedVar').map((f) => f.message), ["Usage of undefined variable '$NOPE'"]);
  });

  it('UndefinedVar: TARGETARCH needs an ARG in the stage; a build arg fills a declared ARG', () => {
    assert.deepEqual(linesOf('UndefinedVar', 'FROM scratch\nCOPY app-$TARGETARCH /app\n'), [2]);
    assert.deepEqual(linesOf('UndefinedVar', 'FROM scratch\nARG TARGETARCH\nCOPY app-$TARGETARCH /app\n'), []);
  });

  it('in a build (base images known) only the stages the target needs are checked', () => {
    const text = 'FROM scratch AS unused\nMAINTAINER x\nFROM scratch AS app\nMAINTAINER y\n';
    assert.deepEqual(linesOf('MaintainerDeprecated', text), [2, 4]);
    assert.deepEqual(linesOf('MaintainerDeprecated', text, { baseImages: new Map() }), [4]);
  });

  it('FinalStageRunsAsRoot: the base image user counts when known; a USER in a parent stage is inherited', () => {
    assert.deepEqual(linesOf('FinalStageRunsAsRoot', 'FROM distroless\n', { baseImages: new Map([[0, image({ user: '65532' })]]) }), []);
    assert.deepEqual(linesOf('FinalStageRunsAsRoot', 'FROM alpine AS base\nUSER 1000\nFROM base\nCMD ["x"]\n'), []);
    assert.deepEqual(linesOf('FinalStageRunsAsRoot', 'FROM alpine AS base\nUSER 0\nFROM base\n'), [2]);
  });

  it('CredentialsInFinalStage: COPY . . of a context that holds a credentials file .dockerignore keeps', () => {
    assert.deepEqual(linesOf('CredentialsInFinalStage', 'FROM alpine\nCOPY . /app\n', { contextCredentials: ['.npmrc'] }), [2]);
    assert.deepEqual(linesOf('CredentialsInFinalStage', 'FROM alpine\nCOPY src/ /app\n', { contextCredentials: ['.npmrc'] }), []);
  });

  it('SecretsUsedInArgOrEnv matches whole _-delimited words only, as BuildKit', () => {
    const keys = ['API_KEY', 'password', 'DB_PASSWD', 'aws_secret_access_key', 'AUTH', 'KEYS', 'MONKEY', 'SECRET_FILE', 'GPG_KEY_VERSION', 'PUBLIC_TOKEN'];
    const text = `FROM alpine\n${keys.map((k) => `ARG ${k}`).join('\n')}\n`;
    const flagged = lint(text).findings.filter((f) => f.rule === 'SecretsUsedInArgOrEnv').map((f) => /"(\w+)"/.exec(f.message)?.[1]);
    assert.deepEqual(flagged, ['API_KEY', 'password', 'DB_PASSWD', 'aws_secret_access_key', 'AUTH']);
  });
});

describe('# check= configuration', () => {
  const text = '# check=skip=JSONArgsRecommended\nFROM alpine\nCMD echo hi\nMAINTAINER me\n';
  it('skip=<rule> silences the rule; skip=all every non-experimental rule', () => {
    assert.deepEqual(linesOf('JSONArgsRecommended', text), []);
    assert.deepEqual(linesOf('MaintainerDeprecated', text), [4]);
    assert.deepEqual(lint('# check=skip=all\nFROM alpine\nCMD echo hi\n').findings, []);
  });

  it('error=true makes every finding an error and lists the violated rules', () => {
    const result = lint('# check=error=true\nFROM alpine\nMAINTAINER me\n');
    assert.equal(result.config.error, true);
    assert.ok(result.findings.every((f) => f.level === 'error'));
    assert.ok(result.violated.includes('MaintainerDeprecated'));
    assert.equal(lint('FROM alpine\nMAINTAINER me\n').findings[0]?.level, 'warning');
  });

  it('the BUILDKIT_DOCKERFILE_CHECK build arg replaces the directive', () => {
    assert.deepEqual(linesOf('JSONArgsRecommended', text, { checkArg: 'skip=MaintainerDeprecated' }), [3]);
    assert.deepEqual(linesOf('MaintainerDeprecated', text, { checkArg: 'skip=MaintainerDeprecated' }), []);
    assert.deepEqual(lint(text, { checkArg: 'skip=Nope' }).findings.filter((f) => f.rule === 'UnknownCheckRule').map((f) => f.message), ["Unknown check rule 'Nope' in BUILDKIT_DOCKERFILE_CHECK"]);
  });

  it('a # check= comment above one instruction adds to the configuration there only', () => {
    const local = 'FROM alpine\n# check=skip=JSONArgsRecommended\nCMD echo a\nFROM alpine\nCMD echo b\n';
    assert.deepEqual(linesOf('JSONArgsRecommended', local), [5]);
  });

  it('an invalid directive fails with its line; an invalid build arg is a usage error', () => {
    assert.throws(() => lint('# check=skip=all;frobnicate=1\nFROM alpine\n'), (e: unknown) => e instanceof StagecraftError && e.code === 'DOCKERFILE_SYNTAX' && /Dockerfile:1: failed to parse check options: invalid check option "frobnicate"/.test(e.message));
    assert.throws(() => lint('FROM alpine\n', { checkArg: 'error=maybe' }), (e: unknown) => e instanceof StagecraftError && e.code === 'USAGE');
  });

  it('parses as BuildKit: three options at most, lists trimmed, Go booleans', () => {
    const config = parseCheckOptions(' skip = A , B ; error=1;experimental=all ');
    assert.deepEqual([...config.skip], ['A', 'B']);
    assert.equal(config.error, true);
    assert.equal(config.experimentalAll, true);
    assert.equal(parseCheckOptions('').error, false);
    assert.throws(() => parseCheckOptions('skip'), /invalid check option "skip"/);
  });
});

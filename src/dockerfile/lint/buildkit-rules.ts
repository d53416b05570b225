/**
 * BuildKit's build-check rules (frontend/dockerfile/linter/ruleset.go): same names, defaults and
 * conditions; messages in the same spirit. Each rule is one entry: data plus its check.
 */
import { closest, formatPlatform, parseImageRef, parsePlatform } from '../../core/index.js';
import type { Command, Stage } from '../instructions/index.js';
import { PatternMatcher } from '../../util/patterns.js';
import { stageChain } from './model.js';
import { OWN_DOCS } from './stagecraft-rules.js';
import type { LintModel, LintRule, ModelStage, Reporter } from './types.js';

const DOCS = 'https://docs.docker.com/go/dockerfile/rule';

/** The keyword as written (`from`, `FROM`, `From`). */
export function writtenKeyword(original: string): string {
  return original.trimStart().split(/\s/, 1)[0] ?? '';
}

/** The words of a FROM line as written: keyword, flags, image, `AS`, name. */
function fromWords(original: string): string[] {
  return original.trim().split(/\s+/).filter((w) => !w.startsWith('--'));
}

function checkedStages(model: LintModel): ModelStage[] {
  return model.stages.filter((s) => model.checks(s.index));
}

const reportAt = (report: Reporter, at: { range: Command['range']; comments: readonly string[] }, message: string, fix: string): void =>
  report({ message, range: at.range, fix, comments: at.comments });

/** `(?:_|^)(?:apikey|auth|…)(?:_|$)`, case-insensitive, as BuildKit's secrets pattern. */
const SECRET_WORD = /(?:_|^)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const SECRET_ALLOW = /(?:_|^)(?:public|file|version)(?:_|$)/i;

export function looksSecret(key: string): boolean {
  return SECRET_WORD.test(key) && !SECRET_ALLOW.test(key);
}

/** "Did you mean": only among a bounded set of names, so a hostile Dockerfile cannot make it quadratic. */
function suggest(name: string, candidates: ReadonlySet<string> | ReadonlyMap<string, string>, caseInsensitive: boolean): string | undefined {
  if (candidates.size > 256) return undefined;
  return closest(name, candidates.keys(), caseInsensitive);
}

const RESERVED_STAGE_NAMES = new Set(['context', 'scratch']);
/** Variables BuildKit never puts into the environment, so never undefined. */
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

/** The environment at the end of each stage, for UndefinedVar; `undefined` when the base image's is unknown. */
interface StageScope {
  readonly env: Map<string, string>;
  readonly declared: Set<string>;
}

function expandCheck(model: LintModel, scope: StageScope, word: string, onUnmatched: (name: string) => void): string | undefined {
  try {
    const result = model.lex.processWordWithMatches(word, (name) => scope.env.get(name));
    for (const name of result.unmatched) if (!scope.declared.has(name) && !NON_ENV_ARGS.has(name)) onUnmatched(name);
    return result.result;
  } catch {
    return undefined;
  }
}

/** The words of a command BuildKit expands before dispatch (SupportsSingleWordExpansion). */
function expandedWords(command: Command): string[] {
  switch (command.kind) {
    case 'copy':
    case 'add':
      return [...command.sources, command.dest, ...(command.chown !== undefined ? [command.chown] : []), ...(command.chmod !== undefined ? [command.chmod] : [])];
    case 'label':
      return command.pairs.flatMap((p) => [p.key, p.value]);
    case 'workdir':
      return [command.path];
    case 'user':
      return [command.user];
    case 'volume':
      return [...command.volumes];
    case 'expose':
      return [...command.ports];
    case 'stopsignal':
      return [command.signal];
    // ARG and ENV are expanded by the scope walk; RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK by the shell at run time.
    case 'arg':
    case 'env':
    case 'run':
    case 'cmd':
    case 'entrypoint':
    case 'shell':
    case 'healthcheck':
    case 'maintainer':
    case 'onbuild':
      return [];
  }
}

function undefinedVars(model: LintModel, report: Reporter): void {
  const scopes = new Map<number, StageScope | undefined>();
  const scopeOf = (stage: ModelStage): StageScope | undefined => {
    if (scopes.has(stage.index)) return scopes.get(stage.index);
    scopes.set(stage.index, undefined); // a cycle ends here
    let start: StageScope | undefined;
    if (stage.parent !== undefined) {
      const parent = model.stages[stage.parent];
      const parentScope = parent === undefined ? undefined : scopeOf(parent);
      start = parentScope === undefined ? undefined : { env: new Map(parentScope.env), declared: new Set(parentScope.declared) };
    } else if (stage.scratch) {
      start = { env: new Map(), declared: new Set() };
    } else if (stage.baseImage !== undefined) {
      const env = new Map<string, string>();
      for (const entry of stage.baseImage.env) {
        const eq = entry.indexOf('=');
        env.set(eq === -1 ? entry : entry.slice(0, eq), eq === -1 ? '' : entry.slice(eq + 1));
      }
      start = { env, declared: new Set() };
    }
    if (start === undefined) return undefined;
    if (!start.env.has('PATH')) start.env.set('PATH', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    const scope = start;
    const checked = model.checks(stage.index);
    for (const command of stage.stage.commands) {
      const seen = new Set<string>();
      const onUnmatched = (name: string): void => {
        if (!checked || seen.has(name)) return;
        seen.add(name);
        const guess = suggest(name, scope.env, false);
        reportAt(report, command, `Usage of undefined variable '$${name}'${guess !== undefined ? ` (did you mean $${guess}?)` : ''}`,
          guess !== undefined ? `use $${guess}, or declare ${name} with ARG or ENV before this line` : `declare ${name} with ARG (or ENV) in this stage before using it`);
      };
      if (command.kind === 'arg') {
        for (const arg of command.args) {
          scope.declared.add(arg.key);
          const given = model.buildArgs.get(arg.key);
          if (given !== undefined) scope.env.set(arg.key, given);
          else if (arg.value !== undefined) {
            const value = expandCheck(model, scope, arg.value, onUnmatched);
            if (value !== undefined) scope.env.set(arg.key, value);
          } else {
            const global = model.globalValues.get(arg.key);
            if (global !== undefined) scope.env.set(arg.key, global);
          }
        }
        continue;
      }
      if (command.kind === 'env') {
        for (const pair of command.pairs) {
          const value = expandCheck(model, scope, pair.value, onUnmatched);
          scope.env.set(pair.key, value ?? '');
        }
        continue;
      }
      for (const word of expandedWords(command)) expandCheck(model, scope, word, onUnmatched);
    }
    scopes.set(stage.index, scope);
    return scope;
  };
  for (const stage of model.stages) scopeOf(stage);
}

function consistentCasing(model: LintModel, report: Reporter): void {
  const all: { keyword: string; at: { range: Command['range']; comments: readonly string[] } }[] = [];
  for (const stage of model.parsed.stages) {
    all.push({ keyword: writtenKeyword(stage.from.original), at: stage.from });
    for (const command of stage.commands) all.push({ keyword: writtenKeyword(command.original), at: command });
  }
  let lower = 0;
  let upper = 0;
  for (const { keyword } of all) {
    if (keyword === keyword.toLowerCase()) lower++;
    else if (keyword === keyword.toUpperCase()) upper++;
  }
  const majorityLower = lower > upper;
  for (const { keyword, at } of all) {
    const wrong = majorityLower ? keyword !== keyword.toLowerCase() : keyword !== keyword.toUpperCase();
    if (!wrong) continue;
    const casing = majorityLower ? 'lowercase' : 'uppercase';
    reportAt(report, at, `Command '${keyword}' should match the case of the command majority (${casing})`,
      `write ${majorityLower ? keyword.toLowerCase() : keyword.toUpperCase()}, as the other instructions are written`);
  }
}

function fromAsCasing(stage: Stage, report: Reporter): void {
  const words = fromWords(stage.from.original);
  const keyword = words[0] ?? '';
  const as = words[2];
  if (as === undefined || words.length < 4) return;
  const lower = keyword === keyword.toLowerCase();
  const upper = keyword === keyword.toUpperCase();
  if (!lower && !upper) return;
  if (lower ? as === as.toLowerCase() : as === as.toUpperCase()) return;
  reportAt(report, stage.from, `'${as}' and '${keyword}' keywords' casing do not match`, `write "${lower ? 'as' : 'AS'}" to match "${keyword}"`);
}

function multipleInstructions(model: LintModel, report: Reporter): void {
  for (const stage of checkedStages(model)) {
    const last = new Map<string, Command>();
    for (const command of stage.stage.commands) {
      if (command.kind !== 'cmd' && command.kind !== 'entrypoint' && command.kind !== 'healthcheck') continue;
      const previous = last.get(command.kind);
      if (previous !== undefined) {
        const name = command.kind.toUpperCase();
        // The earlier one is the one without effect: report it, as BuildKit.
        reportAt(report, previous, `Multiple ${name} instructions should not be used in the same stage because only the last one will be used`,
          `remove this ${name}: the ${name} on line ${command.range.start.line} replaces it`);
      }
      last.set(command.kind, command);
    }
  }
}

function jsonArgs(model: LintModel, report: Reporter): void {
  for (const stage of checkedStages(model)) {
    let shellSet = false;
    for (const chainStage of stageChain(model, stage.index)) {
      if (chainStage.baseImage?.shell !== undefined && chainStage.baseImage.shell.length > 0) shellSet = true;
      for (const command of chainStage.stage.commands) {
        if (command.kind === 'shell') shellSet = true;
        if (chainStage.index !== stage.index) continue;
        if ((command.kind === 'cmd' || command.kind === 'entrypoint') && command.prependShell && !shellSet) {
          const name = command.kind.toUpperCase();
          const words = command.cmdLine.join(' ').trim().split(/\s+/);
          reportAt(report, command, `JSON arguments recommended for ${name} to prevent unintended behavior related to OS signals`,
            `write the exec form, ${name} ${JSON.stringify(words)}, so the program is PID 1 and receives SIGTERM (or set SHELL first if a shell is wanted)`);
        }
      }
    }
  }
}

function workdirRelative(model: LintModel, report: Reporter): void {
  for (const stage of checkedStages(model)) {
    let set = false;
    for (const chainStage of stageChain(model, stage.index)) {
      for (const command of chainStage.stage.commands) {
        if (command.kind !== 'workdir') continue;
        if (!set && !command.path.startsWith('/') && chainStage.index === stage.index) {
          reportAt(report, command, `Relative workdir ${JSON.stringify(command.path)} can have unexpected results if the base image changes`,
            `write an absolute path, e.g. WORKDIR /${command.path.replace(/^\.\//, '')}, or set an absolute WORKDIR earlier in the stage`);
        }
        set = true;
      }
    }
  }
}

/** Splits `[ip:][host:]container[/proto]` as BuildKit's portSpecs. */
function splitPort(raw: string): { ip: string; host: string; proto: string } {
  let ip = '';
  let rest = raw;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close !== -1) {
      ip = rest.slice(0, close + 1);
      rest = rest.slice(close + 1).replace(/^:/, '');
    }
  }
  const parts = rest.split(':');
  const container = parts.at(-1) ?? '';
  let host = '';
  if (parts.length === 2) host = parts[0] ?? '';
  if (parts.length >= 3) {
    ip = parts.slice(0, -2).join(':');
    host = parts.at(-2) ?? '';
  }
  const slash = container.indexOf('/');
  return { ip, host, proto: slash === -1 ? '' : container.slice(slash + 1) };
}

function exposeRules(model: LintModel, report: Reporter, which: 'casing' | 'format'): void {
  for (const stage of checkedStages(model)) {
    for (const command of stage.stage.commands) {
      if (command.kind !== 'expose') continue;
      for (const raw of command.ports) {
        const { ip, host, proto } = splitPort(raw);
        if (which === 'casing' && proto !== proto.toLowerCase()) {
          reportAt(report, command, `Defined protocol '${raw}' in EXPOSE instruction should be lowercase`, `write ${raw.replace(proto, proto.toLowerCase())}`);
        }
        if (which === 'format' && (ip !== '' || host !== '')) {
          const container = raw.split(':').at(-1) ?? raw;
          reportAt(report, command, `EXPOSE instruction should not define an IP address or host-port mapping, found '${raw}'`,
            `write EXPOSE ${container}; publish to a host port when running the container (docker run -p)`);
        }
      }
    }
  }
}

function fromArgs(model: LintModel, report: Reporter): void {
  const known = new Set([...model.globalDeclared, ...model.globalValues.keys()]);
  for (const { stage } of model.stages) {
    const unmatched = new Set<string>();
    for (const word of [stage.from.baseName, ...(stage.from.platform !== undefined ? [stage.from.platform] : [])]) {
      try {
        for (const name of model.lex.processWordWithMatches(word, (n) => model.globalValues.get(n)).unmatched) unmatched.add(name);
      } catch {
        // the build reports the malformed expression
      }
    }
    for (const name of unmatched) {
      if (known.has(name)) continue;
      const guess = suggest(name, known, true);
      reportAt(report, stage.from, `FROM argument '${name}' is not declared${guess !== undefined ? ` (did you mean ${guess}?)` : ''}`,
        guess !== undefined ? `use ${guess}, or declare ARG ${name} before the first FROM` : `declare ARG ${name} (with a default) before the first FROM`);
    }
  }
}

function invalidDefaultArg(model: LintModel, report: Reporter): void {
  const defaults = model.defaultGlobalValues;
  if (defaults === undefined) return;
  for (const { stage } of model.stages) {
    if (!stage.from.baseName.includes('$')) continue;
    let name: string;
    try {
      name = model.lex.processWord(stage.from.baseName, (n) => defaults.get(n));
    } catch {
      return;
    }
    let valid = name !== '';
    if (valid) {
      try {
        parseImageRef(name);
      } catch {
        valid = false;
      }
    }
    if (!valid) {
      reportAt(report, stage.from, `Default value for ARG ${stage.from.baseName} results in empty or invalid base image name`,
        'give the global ARG used in FROM a default that is a valid image reference (ARG NAME=alpine:3.20)');
    }
  }
}

function platformFlagRules(model: LintModel, report: Reporter, which: 'redundant' | 'const'): void {
  for (const { stage } of model.stages) {
    const written = stage.from.platform;
    if (written === undefined) continue;
    let result;
    try {
      result = model.lex.processWordWithMatches(written, (n) => model.globalValues.get(n));
    } catch {
      continue;
    }
    if (which === 'redundant') {
      if (result.matched.size === 1 && result.unmatched.size === 0 && result.matched.has('TARGETPLATFORM') && result.result === model.globalValues.get('TARGETPLATFORM')) {
        reportAt(report, stage.from, `Setting platform to predefined ${written} in FROM is redundant as this is the default behavior`, `remove --platform=${written}`);
      }
      continue;
    }
    if (result.matched.size > 0 || result.unmatched.size > 0) continue;
    let platform;
    try {
      platform = parsePlatform(result.result);
    } catch {
      continue;
    }
    const name = stage.from.stageName ?? '';
    if (name.includes(platform.os) || name.includes(platform.architecture)) continue;
    reportAt(report, stage.from, `FROM --platform flag should not use constant value ${JSON.stringify(result.result)}`,
      'use a variable (--platform=$BUILDPLATFORM for build tools), or name the stage after the platform if it is meant to be fixed');
  }
}

function copyIgnored(model: LintModel, report: Reporter): void {
  if (model.dockerignore.length === 0) return;
  let matcher: PatternMatcher;
  try {
    matcher = PatternMatcher.create(model.dockerignore);
  } catch {
    return;
  }
  // With `!` exceptions a static answer is not possible (BuildKit skips too).
  if (matcher.hasExclusions) return;
  const rootIgnored = matcher.patterns.some((p) => !p.exclusion && ['*', '**', '**/*'].includes(p.text));
  for (const stage of checkedStages(model)) {
    for (const command of stage.stage.commands) {
      if ((command.kind !== 'copy' && command.kind !== 'add') || (command.kind === 'copy' && command.from !== undefined)) continue;
      for (const source of command.sources) {
        if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source) || source.startsWith('git@')) continue;
        const clean = source.replace(/^\/+/, '').replace(/\/+$/, '').replace(/^\.\//, '') || '.';
        if (clean === '.' || clean === '') {
          if (!rootIgnored) continue;
        }
        if (clean !== '.' && !matcher.matches(clean)) continue;
        const verb = command.kind === 'add' ? 'Add' : 'Copy';
        reportAt(report, command, `Attempting to ${verb} file ${JSON.stringify(clean)} that is excluded by .dockerignore`,
          `remove the pattern that excludes ${clean} from .dockerignore, or stop copying it`);
      }
    }
  }
}

function definitionDescription(model: LintModel, report: Reporter): void {
  const check = (comments: readonly string[], keys: readonly string[], instruction: string, at: { range: Command['range']; comments: readonly string[] }): void => {
    const last = comments.at(-1);
    if (last === undefined || keys.length === 0) return;
    if (keys.includes(last.split(' ')[0] ?? '')) return;
    const example = keys.length > 1 ? '<arg_key>' : keys[0] ?? '';
    reportAt(report, at, `Comment for ${instruction} should follow the format: \`# ${example} <description>\``,
      `start the comment with "${example}", or separate it from the instruction with an empty comment line`);
  };
  for (const arg of model.parsed.metaArgs) check(arg.comments, arg.args.map((a) => a.key), 'ARG', arg);
  for (const { stage } of model.stages) {
    if (stage.from.stageName !== undefined) check(stage.from.comments, [fromWords(stage.from.original)[3] ?? stage.from.stageName], 'FROM', stage.from);
    for (const command of stage.commands) if (command.kind === 'arg') check(command.comments, command.args.map((a) => a.key), 'ARG', command);
  }
}

function basePlatform(model: LintModel, report: Reporter): void {
  for (const stage of model.stages) {
    const image = stage.baseImage;
    if (image === undefined || !model.checks(stage.index)) continue;
    if (image.os === stage.platform.os && image.architecture === stage.platform.architecture) continue;
    const actual = formatPlatform({ os: image.os, architecture: image.architecture, variant: image.variant });
    const expected = formatPlatform(stage.platform);
    reportAt(report, stage.stage.from, `Base image ${stage.baseName ?? stage.stage.from.baseName} was pulled with platform ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)} for current build`,
      `use an image (or an index) that has a ${expected} variant, or pin --platform on this FROM if the other platform is intended`);
  }
}

export const BUILDKIT_RULES: readonly LintRule[] = [
  {
    name: 'StageNameCasing', description: 'Stage names should be lowercase', url: `${DOCS}/stage-name-casing/`, experimental: false, origin: 'buildkit',
    check: (model, report) => {
      for (const { stage } of model.stages) {
        const written = fromWords(stage.from.original)[3];
        if (written !== undefined && written !== written.toLowerCase()) reportAt(report, stage.from, `Stage name '${written}' should be lowercase`, `write AS ${written.toLowerCase()}`);
      }
    },
  },
  {
    name: 'FromAsCasing', description: "The 'as' keyword should match the case of the 'from' keyword", url: `${DOCS}/from-as-casing/`, experimental: false, origin: 'buildkit',
    check: (model, report) => { for (const { stage } of model.stages) fromAsCasing(stage, report); },
  },
  {
    name: 'NoEmptyContinuation', description: 'Empty continuation lines will become errors in a future release', url: `${DOCS}/no-empty-continuation/`, experimental: false, origin: 'buildkit',
    check: (model, report) => {
      for (const warning of model.ast.warnings) {
        if (warning.rule === 'NoEmptyContinuation') report({ message: 'Empty continuation line', range: warning.range, fix: 'remove the empty line inside the continued instruction, or end the instruction before it' });
      }
    },
  },
  {
    name: 'ConsistentInstructionCasing', description: 'All commands within the Dockerfile should use the same casing (either upper or lower)', url: `${DOCS}/consistent-instruction-casing/`, experimental: false, origin: 'buildkit',
    check: consistentCasing,
  },
  {
    name: 'DuplicateStageName', description: 'Stage names should be unique', url: `${DOCS}/duplicate-stage-name/`, experimental: false, origin: 'buildkit',
    check: (model, report) => {
      const seen = new Set<string>();
      for (const { stage } of model.stages) {
        const name = stage.from.stageName;
        if (name === undefined) continue;
        if (seen.has(name)) reportAt(report, stage.from, `Duplicate stage name ${JSON.stringify(name)}, stage names should be unique`, `rename this stage (AS ${name}-2) and the --from/FROM references meant for it`);
        seen.add(name);
      }
    },
  },
  {
    name: 'ReservedStageName', description: 'Reserved words should not be used as stage names', url: `${DOCS}/reserved-stage-name/`, experimental: false, origin: 'buildkit',
    check: (model, report) => {
      for (const { stage } of model.stages) {
        const name = stage.from.stageName;
        if (name !== undefined && RESERVED_STAGE_NAMES.has(name)) reportAt(report, stage.from, `Stage name should not use the same name as reserved stage ${JSON.stringify(name)}`, `rename the stage (e.g. AS ${name}-stage)`);
      }
    },
  },
  {
    name: 'JSONArgsRecommended', description: 'JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals', url: `${DOCS}/json-args-recommended/`, experimental: false, origin: 'buildkit',
    check: jsonArgs,
  },
  {
    name: 'MaintainerDeprecated', description: 'The MAINTAINER instruction is deprecated, use a label instead to define an image author', url: `${DOCS}/maintainer-deprecated/`, experimental: false, origin: 'buildkit',
    check: (model, report) => {
      for (const stage of checkedStages(model)) {
        for (const command of stage.stage.commands) {
          if (command.kind === 'maintainer') reportAt(report, command, 'Maintainer instruction is deprecated in favor of using label', `write LABEL org.opencontainers.image.authors=${JSON.stringify(command.maintainer)}`);
        }
      }
    },
  },
  { name: 'UndefinedArgInFrom', description: 'FROM command must use declared ARGs', url: `${DOCS}/undefined-arg-in-from/`, experimental: false, origin: 'buildkit', check: fromArgs },
  {
    name: 'WorkdirRelativePath', description: 'Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes', url: `${DOCS}/workdir-relative-path/`, experimental: false, origin: 'buildkit',
    check: workdirRelative,
  },
  { name: 'UndefinedVar', description: 'Variables should be defined before their use', url: `${DOCS}/undefined-var/`, experimental: false, origin: 'buildkit', check: undefinedVars },
  {
    name: 'MultipleInstructionsDisallowed', description: 'Multiple instructions of the same type should not be used in the same stage', url: `${DOCS}/multiple-instructions-disallowed/`, experimental: false, origin: 'buildkit',
    check: multipleInstructions,
  },
  {
    name: 'LegacyKeyValueFormat', description: 'Legacy key/value format with whitespace separator should not be used', url: `${DOCS}/legacy-key-value-format/`, experimental: false, origin: 'buildkit',
    check: (model, report) => {
      for (const stage of checkedStages(model)) {
        for (const command of stage.stage.commands) {
          if ((command.kind === 'env' || command.kind === 'label') && command.pairs.some((p) => p.noDelim)) {
            const name = writtenKeyword(command.original).toUpperCase();
            const pair = command.pairs.find((p) => p.noDelim);
            reportAt(report, command, `"${name} key=value" should be used instead of legacy "${name} key value" format`,
              `write ${name} ${pair?.key ?? 'key'}=${JSON.stringify(pair?.value ?? 'value')}`);
          }
        }
      }
    },
  },
  {
    name: 'RedundantTargetPlatform', description: 'Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior', url: `${DOCS}/redundant-target-platform/`, experimental: false, origin: 'buildkit',
    check: (model, report) => platformFlagRules(model, report, 'redundant'),
  },
  {
    name: 'SecretsUsedInArgOrEnv', description: 'Sensitive data should not be used in the ARG or ENV commands', url: `${DOCS}/secrets-used-in-arg-or-env/`, experimental: false, origin: 'buildkit',
    check: (model, report) => {
      for (const stage of checkedStages(model)) {
        for (const command of stage.stage.commands) {
          const keys = command.kind === 'arg' ? command.args.map((a) => a.key) : command.kind === 'env' ? command.pairs.map((p) => p.key) : [];
          for (const key of keys) {
            if (!looksSecret(key)) continue;
            const name = command.kind.toUpperCase();
            reportAt(report, command, `Do not use ARG or ENV instructions for sensitive data (${name} ${JSON.stringify(key)})`,
              `pass it as a build secret: RUN --mount=type=secret,id=${key.toLowerCase()} … and stagecraft build --secret id=${key.toLowerCase()},env=${key}; ARG and ENV values are kept in the image`);
          }
        }
      }
    },
  },
  {
    name: 'InvalidDefaultArgInFrom', description: 'Default value for global ARG results in an empty or invalid base image name', url: `${DOCS}/invalid-default-arg-in-from/`, experimental: false, origin: 'buildkit',
    check: invalidDefaultArg,
  },
  {
    name: 'FromPlatformFlagConstDisallowed', description: 'FROM --platform flag should not use a constant value', url: `${DOCS}/from-platform-flag-const-disallowed/`, experimental: false, origin: 'buildkit',
    check: (model, report) => platformFlagRules(model, report, 'const'),
  },
  { name: 'CopyIgnoredFile', description: 'Attempting to Copy file that is excluded by .dockerignore', url: `${DOCS}/copy-ignored-file/`, experimental: false, origin: 'buildkit', check: copyIgnored },
  {
    name: 'InvalidDefinitionDescription', description: 'Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`', url: `${DOCS}/invalid-definition-description/`, experimental: true, origin: 'buildkit',
    check: definitionDescription,
  },
  {
    name: 'ExposeProtoCasing', description: 'Protocol in EXPOSE instruction should be lowercase', url: `${DOCS}/expose-proto-casing/`, experimental: false, origin: 'buildkit',
    check: (model, report) => exposeRules(model, report, 'casing'),
  },
  {
    name: 'ExposeInvalidFormat', description: 'IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release', url: `${DOCS}/expose-invalid-format/`, experimental: false, origin: 'buildkit',
    check: (model, report) => exposeRules(model, report, 'format'),
  },
  {
    // Defined in BuildKit's ruleset without a documentation page; ours is docs/checks.md.
    name: 'InvalidBaseImagePlatform', description: 'Base image platform does not match expected target platform', url: `${OWN_DOCS}#invalidbaseimageplatform`, experimental: false, origin: 'buildkit', needs: 'image',
    check: basePlatform,
  },
];

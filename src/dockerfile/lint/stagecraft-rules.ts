/**
 * stagecraft's own rules: what ends up in the shipped image (build tools, credentials, root user), how
 * reproducible and cacheable the build is (unpinned bases, COPY order), and stages a target skips.
 * Heuristics over the Dockerfile text, so each names what it matched and how to fix or silence it.
 */
import type { Command, RunInstruction } from '../instructions/index.js';
import { stageChain } from './model.js';
import type { LintModel, LintRule, ModelStage, Reporter } from './types.js';

/** Our rules are documented in docs/checks.md, one anchor per rule (lower-cased name). */
export const OWN_DOCS = 'docs/checks.md';
const own = (name: string): string => `${OWN_DOCS}#${name.toLowerCase()}`;

const reportAt = (report: Reporter, at: { range: Command['range']; comments: readonly string[] }, message: string, fix: string): void =>
  report({ message, range: at.range, fix, comments: at.comments });

/** The shell text a RUN executes: its command line and its heredoc bodies. */
export function runText(command: RunInstruction): string {
  return [command.cmdLine.join(' '), ...command.files.map((f) => f.data)].join('\n');
}

/** Simple shell commands of a script: split on `&&`, `||`, `;`, `|`, newlines (quotes are not parsed; good enough for a heuristic). */
function simpleCommands(text: string): string[][] {
  return text.replace(/\\\n/g, ' ').split(/&&|\|\||[;|\n]/).map((part) => part.trim().split(/\s+/).filter((w) => w !== '')).filter((words) => words.length > 0);
}

/** Strips `sudo`, `env X=…` and similar prefixes. */
function program(words: readonly string[]): string[] {
  let i = 0;
  while (i < words.length && (words[i] === 'sudo' || words[i] === 'env' || words[i] === 'exec' || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i] ?? ''))) i++;
  return words.slice(i);
}

interface PackageAction {
  readonly manager: string;
  readonly action: 'install' | 'remove';
  readonly packages: readonly string[];
  /** apk's `--virtual NAME`: the group `apk del NAME` removes again. */
  readonly group?: string | undefined;
}

const INSTALL_VERBS: Readonly<Record<string, { install: readonly string[]; remove: readonly string[] }>> = {
  'apt-get': { install: ['install'], remove: ['remove', 'purge', 'autoremove'] },
  apt: { install: ['install'], remove: ['remove', 'purge', 'autoremove'] },
  apk: { install: ['add'], remove: ['del'] },
  yum: { install: ['install'], remove: ['remove', 'erase'] },
  dnf: { install: ['install'], remove: ['remove', 'erase'] },
  microdnf: { install: ['install'], remove: ['remove'] },
  zypper: { install: ['install', 'in'], remove: ['remove', 'rm'] },
};

/** Package installs and removals of a script (`apt-get install -y gcc`, `apk add --virtual .b gcc`, `apk del .b`). */
export function packageActions(text: string): PackageAction[] {
  const actions: PackageAction[] = [];
  for (const words of simpleCommands(text)) {
    const [manager, ...rest] = program(words);
    const verbs = manager === undefined ? undefined : INSTALL_VERBS[manager];
    if (manager === undefined || verbs === undefined) continue;
    const verbIndex = rest.findIndex((w) => !w.startsWith('-'));
    const verb = rest[verbIndex];
    if (verb === undefined) continue;
    const action = verbs.install.includes(verb) ? 'install' : verbs.remove.includes(verb) ? 'remove' : undefined;
    if (action === undefined) continue;
    const packages: string[] = [];
    let group: string | undefined;
    const args = rest.slice(verbIndex + 1);
    for (let i = 0; i < args.length; i++) {
      const arg = args[i] ?? '';
      if (manager === 'apk' && (arg === '--virtual' || arg === '-t')) {
        group = args[++i];
        continue;
      }
      if (arg.startsWith('-')) continue;
      packages.push(arg.replace(/^['"]|['"]$/g, '').split(/[=~<>]/)[0] ?? arg);
    }
    actions.push({ manager, action, packages, group });
  }
  return actions;
}

const BUILD_TOOLS = new Set([
  'gcc', 'g++', 'gcc-c++', 'cpp', 'clang', 'llvm', 'make', 'cmake', 'ninja-build', 'build-essential', 'build-base', 'alpine-sdk',
  'autoconf', 'automake', 'libtool', 'pkg-config', 'pkgconf', 'binutils', 'gfortran', 'nasm', 'golang', 'golang-go', 'go', 'rustc', 'cargo',
  'maven', 'gradle', 'openjdk-17-jdk', 'openjdk-21-jdk', 'default-jdk',
]);
const PACKAGE_MANAGERS = new Set(['npm', 'yarn', 'yarnpkg', 'python3-pip', 'python-pip', 'py3-pip', 'py-pip', 'pipx']);

export function isBuildTool(name: string): 'compiler' | 'package manager' | undefined {
  if (BUILD_TOOLS.has(name) || /-(dev|devel)$/.test(name)) return 'compiler';
  if (PACKAGE_MANAGERS.has(name)) return 'package manager';
  return undefined;
}

function buildTools(model: LintModel, report: Reporter): void {
  const chain = stageChain(model, model.target);
  const installed = new Map<string, { command: RunInstruction; kind: string }>();
  const groups = new Map<string, string[]>();
  for (const stage of chain) {
    for (const command of stage.stage.commands) {
      if (command.kind !== 'run') continue;
      const text = runText(command);
      for (const action of packageActions(text)) {
        for (const name of action.packages) {
          if (action.action === 'remove') {
            installed.delete(name);
            // removing an apk virtual group removes its members
            for (const member of groups.get(name) ?? []) installed.delete(`${name}\0${member}`);
            groups.delete(name);
            continue;
          }
          const kind = isBuildTool(name);
          if (kind === undefined) continue;
          if (action.group === undefined) installed.set(name, { command, kind });
          else {
            installed.set(`${action.group}\0${name}`, { command, kind });
            const members = groups.get(action.group) ?? [];
            members.push(name);
            groups.set(action.group, members);
          }
        }
      }
      for (const words of simpleCommands(text)) {
        const [tool, verb, ...args] = program(words);
        if (tool === 'npm' && (verb === 'install' || verb === 'i') && (args.includes('-g') || args.includes('--global'))) {
          for (const pkg of args.filter((a) => !a.startsWith('-'))) if (['yarn', 'pnpm', 'node-gyp'].includes(pkg.split('@')[0] ?? pkg)) installed.set(pkg, { command, kind: 'package manager' });
        }
      }
    }
  }
  const byCommand = new Map<RunInstruction, string[]>();
  for (const [key, { command }] of installed) {
    const name = key.slice(key.indexOf('\0') + 1);
    const names = byCommand.get(command) ?? [];
    names.push(name);
    byCommand.set(command, names);
  }
  for (const [command, names] of byCommand) {
    reportAt(report, command, `Build tools installed in the final stage: ${names.join(', ')}`,
      'install them in a build stage and COPY --from it only what the program needs at run time (or remove them in the same RUN: apt-get purge / apk del --virtual group)');
  }
}

const CREDENTIAL_NAMES = new Set(['.npmrc', '.pypirc', '.netrc', '_netrc', '.git-credentials', '.pgpass', 'id_rsa', 'id_dsa', 'id_ecdsa', 'id_ed25519']);
const CREDENTIAL_SUFFIXES = ['.aws/credentials', '.docker/config.json'];

export function isCredentialsPath(path: string): boolean {
  const clean = path.replace(/\/+$/, '');
  const base = clean.split('/').at(-1) ?? clean;
  return CREDENTIAL_NAMES.has(base) || CREDENTIAL_SUFFIXES.some((s) => clean === s || clean.endsWith(`/${s}`));
}

function credentials(model: LintModel, report: Reporter): void {
  for (const stage of stageChain(model, model.target)) {
    for (const command of stage.stage.commands) {
      if (command.kind !== 'copy' && command.kind !== 'add') continue;
      const found = command.sources.filter(isCredentialsPath);
      const fromContext = command.kind === 'add' || command.from === undefined;
      if (fromContext) {
        for (const source of command.sources) {
          const dir = source.replace(/^\.\//, '').replace(/\/+$/, '');
          const prefix = dir === '.' || dir === '' ? '' : `${dir}/`;
          for (const path of model.contextCredentials) if (prefix === '' || path.startsWith(prefix)) found.push(path);
        }
      }
      if (found.length === 0) continue;
      reportAt(report, command, `Credentials file copied into the final stage: ${[...new Set(found)].join(', ')}`,
        'do not copy it: mount it only where needed with RUN --mount=type=secret,id=… (stagecraft build --secret), and add it to .dockerignore');
    }
  }
}

function unpinned(model: LintModel, report: Reporter): void {
  for (const stage of model.stages) {
    if (!model.checks(stage.index) || stage.parent !== undefined || stage.scratch || stage.baseName === undefined) continue;
    if (stage.baseName.includes('@sha256:')) continue;
    reportAt(report, stage.stage.from, `Base image ${stage.baseName} is not pinned by digest`,
      `write FROM ${stage.baseName}@sha256:<digest> (stagecraft pull prints it), so the build does not change when the tag moves`);
  }
}

function aptLists(model: LintModel, report: Reporter): void {
  for (const stage of stageChain(model, model.target)) {
    for (const command of stage.stage.commands) {
      if (command.kind !== 'run') continue;
      const text = runText(command);
      if (!packageActions(text).some((a) => (a.manager === 'apt-get' || a.manager === 'apt') && a.action === 'install')) continue;
      if (removesAptLists(text)) continue;
      if (command.mounts.some((m) => m.type === 'cache' && (m.target ?? '').startsWith('/var/lib/apt'))) continue;
      reportAt(report, command, 'apt-get install without removing /var/lib/apt/lists in the same RUN: the package lists stay in the layer',
        'end the RUN with && rm -rf /var/lib/apt/lists/* (or mount a cache: RUN --mount=type=cache,target=/var/lib/apt/lists …)');
    }
  }
}

/**
 * The manifests a dependency installation reads, if `words` (one simple command) is one. Token tests,
 * not regexes over the whole script: linear in the script's length, whatever it holds.
 */
function dependencyManifests(words: readonly string[]): string | undefined {
  const [tool, verb, ...rest] = program(words);
  const args = [verb ?? '', ...rest];
  switch (tool ?? '') {
    case 'npm':
      return verb === 'ci' || verb === 'install' || verb === 'i' ? 'package.json package-lock.json' : undefined;
    case 'yarn':
      return verb === undefined || verb === 'install' || verb.startsWith('--') ? 'package.json yarn.lock' : undefined;
    case 'pnpm':
      return verb === 'install' || verb === 'i' ? 'package.json pnpm-lock.yaml' : undefined;
    case 'pip':
    case 'pip3':
      return verb === 'install' && args.some((a) => a === '-r' || a === '--requirement' || a.startsWith('-r') || a.startsWith('--requirement=')) ? 'requirements.txt' : undefined;
    case 'poetry':
    case 'pipenv':
    case 'uv':
      return verb === 'install' || verb === 'sync' ? 'pyproject.toml and its lock file' : undefined;
    case 'go':
      return verb === 'mod' && rest[0] === 'download' ? 'go.mod go.sum' : undefined;
    case 'bundle':
      return verb === 'install' ? 'Gemfile Gemfile.lock' : undefined;
    case 'mvn':
    case './mvnw':
      return args.some((a) => a.startsWith('dependency:go-offline') || a.startsWith('dependency:resolve')) ? 'pom.xml' : undefined;
    case 'composer':
      return verb === 'install' ? 'composer.json composer.lock' : undefined;
    case 'cargo':
      return verb === 'fetch' ? 'Cargo.toml Cargo.lock' : undefined;
    default:
      return undefined;
  }
}

function dependencyInstall(text: string): string | undefined {
  for (const words of simpleCommands(text)) {
    const manifests = dependencyManifests(words);
    if (manifests !== undefined) return manifests;
  }
  return undefined;
}

/** Whether the script removes the apt lists (`rm -rf /var/lib/apt/lists/*`). */
function removesAptLists(text: string): boolean {
  return simpleCommands(text).some((words) => {
    const [tool, ...args] = program(words);
    return tool === 'rm' && args.some((a) => a.startsWith('/var/lib/apt/lists'));
  });
}

function copyAllFirst(model: LintModel, report: Reporter): void {
  for (const stage of model.stages) {
    if (!model.checks(stage.index)) continue;
    let copyAll: Command | undefined;
    for (const command of stage.stage.commands) {
      if (command.kind === 'copy' && command.from === undefined && command.sources.some((s) => s === '.' || s === './') && copyAll === undefined) {
        copyAll = command;
        continue;
      }
      if (command.kind !== 'run') continue;
      const manifests = dependencyInstall(runText(command));
      if (manifests === undefined) continue;
      if (copyAll !== undefined) {
        reportAt(report, copyAll, `COPY of the whole context before the dependency installation on line ${command.range.start.line}: any source change reinstalls every dependency`,
          `COPY ${manifests} ./ first, run the installation, then COPY . .`);
      }
      break;
    }
  }
}

const TEST_STAGE = /(^|[-_.])(test|tests|testing|check|checks|lint|linter|vet|verify)([-_.]|$)/;

function testStage(model: LintModel, report: Reporter): void {
  for (const stage of model.stages) {
    if (stage.name === undefined || !TEST_STAGE.test(stage.name) || model.needed.has(stage.index)) continue;
    const target = model.stages[model.target];
    reportAt(report, stage.stage.from, `Test stage '${stage.name}' is not built for target '${target?.name ?? `stage-${model.target}`}': its checks never run`,
      `make the target depend on it (e.g. COPY --from=${stage.name} /some/marker /tmp/), or build it in CI with --target ${stage.name}`);
  }
}

function isRoot(user: string): boolean {
  const name = user.split(':')[0] ?? '';
  return name === '' || name === 'root' || name === '0';
}

function rootUser(model: LintModel, report: Reporter): void {
  const chain = stageChain(model, model.target);
  const first: ModelStage | undefined = chain[0];
  const target = chain.at(-1);
  if (first === undefined || target === undefined) return;
  let user: string | undefined = first.baseImage?.user;
  let at: Command | undefined;
  for (const stage of chain) {
    for (const command of stage.stage.commands) {
      if (command.kind === 'user') {
        user = command.user;
        at = command;
      }
    }
  }
  if (user === undefined && first.baseImage === undefined && !first.scratch && /nonroot|rootless/.test(first.baseName ?? '')) return;
  if (user !== undefined && !isRoot(user)) return;
  const message = at === undefined ? `The final stage '${target.name ?? `stage-${target.index}`}' runs as root: no USER is set` : `The final stage runs as root (USER ${at.kind === 'user' ? at.user : ''})`;
  const fix = 'add a user and switch to it before CMD/ENTRYPOINT: RUN useradd -r -u 10001 app (or adduser -S app) then USER 10001';
  if (at !== undefined) reportAt(report, at, message, fix);
  else reportAt(report, target.stage.from, message, fix);
}

export const STAGECRAFT_RULES: readonly LintRule[] = [
  { name: 'BuildToolsInFinalStage', description: 'Compilers, build packages and package managers should not be installed in the final stage', url: own('BuildToolsInFinalStage'), experimental: false, origin: 'stagecraft', check: buildTools },
  { name: 'CredentialsInFinalStage', description: 'Credentials files (.npmrc, .netrc, id_rsa, …) should not be copied into the final stage', url: own('CredentialsInFinalStage'), experimental: false, origin: 'stagecraft', check: credentials },
  { name: 'BaseImageNotPinned', description: 'Base images should be pinned by digest', url: own('BaseImageNotPinned'), experimental: false, origin: 'stagecraft', check: unpinned },
  { name: 'AptListsNotCleaned', description: 'apt-get install should remove /var/lib/apt/lists in the same RUN', url: own('AptListsNotCleaned'), experimental: false, origin: 'stagecraft', check: aptLists },
  { name: 'CopyAllBeforeDependencyInstall', description: 'Copy the dependency manifests, install, then copy the rest of the context', url: own('CopyAllBeforeDependencyInstall'), experimental: false, origin: 'stagecraft', check: copyAllFirst },
  { name: 'TestStageNotInTarget', description: 'A test stage the target does not depend on is never built', url: own('TestStageNotInTarget'), experimental: false, origin: 'stagecraft', check: testStage },
  { name: 'FinalStageRunsAsRoot', description: 'The final stage should switch to a non-root USER', url: own('FinalStageRunsAsRoot'), experimental: false, origin: 'stagecraft', check: rootUser },
];

/** Reported by the runner itself: a rule name in `# check=` (or BUILDKIT_DOCKERFILE_CHECK) that no rule has. */
export const UNKNOWN_CHECK_RULE: Omit<LintRule, 'check'> = {
  name: 'UnknownCheckRule', description: 'Rule names in the check configuration should exist', url: own('UnknownCheckRule'), experimental: false, origin: 'stagecraft',
};

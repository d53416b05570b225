/**
 * AST → typed instructions and stages, with BuildKit's per-instruction rules (argument counts, flags,
 * forms). Errors carry the instruction's location.
 */
import { StagecraftError, closest, type SourceRange } from '../../core/index.js';
import type { DockerfileAst, Heredoc, InstructionNode } from '../syntax/ast.js';
import { DOCKERFILE_LIMITS } from '../limits.js';
import { parseGoDuration } from './duration.js';
import { FlagError, parseFlags } from './flags.js';
import { parseMount, type RunMount } from './mount.js';
import type {
  AddInstruction,
  ArgDefinition,
  ArgInstruction,
  Command,
  CommandLine,
  CopyInstruction,
  FromInstruction,
  HealthConfig,
  InlineFile,
  Instruction,
  KeyValue,
  NetworkMode,
  ParsedDockerfile,
  SecurityMode,
  SourcesAndDest,
  Stage,
} from './types.js';

export const INSTRUCTION_NAMES = [
  'add', 'arg', 'cmd', 'copy', 'entrypoint', 'env', 'expose', 'from', 'healthcheck', 'label', 'maintainer',
  'onbuild', 'run', 'shell', 'stopsignal', 'user', 'volume', 'workdir',
] as const;

const STAGE_NAME_RE = /^[a-z][a-z0-9-_.]*$/;

class InstructionError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

/** Parses one instruction node. `file` is used in error locations. */
export function parseInstruction(node: InstructionNode, file: string): Instruction {
  try {
    return parseNode(node);
  } catch (error) {
    if (error instanceof InstructionError || error instanceof FlagError) {
      throw new StagecraftError('DOCKERFILE_INSTRUCTION', `${file}:${node.range.start.line}: ${node.keyword.toUpperCase()}: ${error.message}`, {
        hint: error.hint,
        location: { file, range: node.range },
      });
    }
    throw error;
  }
}

/** Splits the instructions into global ARGs and stages, as BuildKit's instructions.Parse. */
export function parseStages(ast: DockerfileAst, file: string): ParsedDockerfile {
  const metaArgs: ArgInstruction[] = [];
  const stages: { index: number; from: FromInstruction; commands: Command[] }[] = [];
  for (const node of ast.instructions) {
    const instruction = parseInstruction(node, file);
    if (instruction.kind === 'from') {
      if (stages.length >= DOCKERFILE_LIMITS.stages) {
        throw new StagecraftError('DOCKERFILE_STAGE', `${file}:${node.range.start.line}: the Dockerfile has more than ${DOCKERFILE_LIMITS.stages} stages`, {
          hint: 'Split the build into several Dockerfiles, or build shared parts once as base images.',
          location: { file, range: node.range },
        });
      }
      stages.push({ index: stages.length, from: instruction, commands: [] });
      continue;
    }
    const current = stages.at(-1);
    if (current === undefined) {
      if (instruction.kind === 'arg') {
        metaArgs.push(instruction);
        continue;
      }
      throw new StagecraftError('DOCKERFILE_STAGE', `${file}:${node.range.start.line}: no build stage in current context`, {
        hint: `a Dockerfile must begin with FROM (only ARG may come before it); move ${node.keyword.toUpperCase()} below a FROM`,
        location: { file, range: node.range },
      });
    }
    current.commands.push(instruction);
  }
  const result: Stage[] = stages;
  return { file, metaArgs, stages: result, escapeToken: ast.escapeToken };
}

function base(node: InstructionNode): { range: SourceRange; original: string; comments: readonly string[] } {
  return { range: node.range, original: node.original, comments: node.comments };
}

function noFlags(node: InstructionNode): void {
  parseFlags(node.flags, {});
}

function exactlyOne(node: InstructionNode): string {
  if (node.args.length !== 1) throw new InstructionError(`${node.keyword.toUpperCase()} requires exactly one argument`);
  return node.args[0] ?? '';
}

function atLeastOne(node: InstructionNode): void {
  if (node.args.length === 0) throw new InstructionError(`${node.keyword.toUpperCase()} requires at least one argument`);
}

function parseNode(node: InstructionNode): Instruction {
  const keyword = node.keyword.toLowerCase();
  switch (keyword) {
    case 'from':
      return parseFrom(node);
    case 'arg':
      return parseArg(node);
    case 'env':
      noFlags(node);
      return { kind: 'env', ...base(node), pairs: parseKeyValues(node, 'ENV') };
    case 'label':
      noFlags(node);
      return { kind: 'label', ...base(node), pairs: parseKeyValues(node, 'LABEL') };
    case 'maintainer':
      noFlags(node);
      return { kind: 'maintainer', ...base(node), maintainer: exactlyOne(node) };
    case 'run':
      return parseRun(node);
    case 'cmd':
      noFlags(node);
      return { kind: 'cmd', ...base(node), ...commandLine(node, false) };
    case 'entrypoint':
      noFlags(node);
      return { kind: 'entrypoint', ...base(node), ...commandLine(node, true) };
    case 'shell': {
      noFlags(node);
      const shell = jsonOrJoined(node);
      if (shell.length === 0) throw new InstructionError('SHELL requires at least one argument');
      if (!node.json) {
        throw new InstructionError(`SHELL requires the arguments to be in JSON form`, `write SHELL ["/bin/sh", "-c"]`);
      }
      return { kind: 'shell', ...base(node), shell };
    }
    case 'workdir':
      noFlags(node);
      return { kind: 'workdir', ...base(node), path: exactlyOne(node) };
    case 'user':
      noFlags(node);
      return { kind: 'user', ...base(node), user: exactlyOne(node) };
    case 'volume': {
      atLeastOne(node);
      noFlags(node);
      const volumes = node.args.map((v) => v.trim());
      if (volumes.some((v) => v === '')) throw new InstructionError('VOLUME specified can not be an empty string');
      return { kind: 'volume', ...base(node), volumes };
    }
    case 'expose':
      atLeastOne(node);
      noFlags(node);
      return { kind: 'expose', ...base(node), ports: [...node.args].sort() };
    case 'stopsignal':
      return { kind: 'stopsignal', ...base(node), signal: exactlyOne(node) };
    case 'onbuild':
      return parseOnbuild(node);
    case 'healthcheck':
      return { kind: 'healthcheck', ...base(node), health: parseHealth(node) };
    case 'copy':
      return parseCopy(node);
    case 'add':
      return parseAdd(node);
    default: {
      const guess = closest(keyword, INSTRUCTION_NAMES);
      throw new InstructionError(`unknown instruction: ${node.keyword.toUpperCase()}`, guess !== undefined ? `did you mean ${guess.toUpperCase()}?` : undefined);
    }
  }
}

function parseFrom(node: InstructionNode): FromInstruction {
  const flags = parseFlags(node.flags, { platform: 'string' });
  const args = node.args;
  let stageName: string | undefined;
  if (args.length === 3 && (args[1] ?? '').toLowerCase() === 'as') {
    const written = args[2] ?? '';
    stageName = written.toLowerCase();
    if (!STAGE_NAME_RE.test(stageName)) {
      throw new InstructionError(`invalid name for build stage: "${written}", name can't start with a number or contain symbols`, 'stage names match [a-z][a-z0-9-_.]*');
    }
  } else if (args.length !== 1) {
    throw new InstructionError('FROM requires either one or three arguments', 'write FROM <image> [AS <name>]');
  }
  return { kind: 'from', ...base(node), baseName: args[0] ?? '', stageName, platform: flags.platform };
}

function parseArg(node: InstructionNode): ArgInstruction {
  atLeastOne(node);
  noFlags(node);
  const args: ArgDefinition[] = node.args.map((arg) => {
    const eq = arg.indexOf('=');
    if (eq === -1) return { key: arg };
    if (eq === 0) throw new InstructionError('ARG names can not be blank');
    return { key: arg.slice(0, eq), value: arg.slice(eq + 1) };
  });
  return { kind: 'arg', ...base(node), args };
}

function parseKeyValues(node: InstructionNode, name: string): KeyValue[] {
  const args = node.args;
  if (args.length === 0) throw new InstructionError(`${name} requires at least one argument`);
  if (args.length % 3 !== 0) throw new InstructionError(`Bad input to ${name}, too many arguments`);
  const pairs: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i] ?? '';
    if (key === '') throw new InstructionError(`${name} names can not be blank`);
    pairs.push({ key, value: args[i + 1] ?? '', noDelim: (args[i + 2] ?? '') === '' });
  }
  return pairs;
}

function jsonOrJoined(node: InstructionNode): string[] {
  if (node.args.length === 0) return [];
  return node.json ? [...node.args] : [node.args.join(' ')];
}

function inlineFiles(heredocs: readonly Heredoc[]): InlineFile[] {
  return heredocs.map((h) => ({ name: h.name, data: h.content, chomp: h.chomp, expand: h.expand }));
}

function commandLine(node: InstructionNode, _emptyAsNil: boolean): CommandLine {
  return { cmdLine: jsonOrJoined(node), prependShell: !node.json, files: inlineFiles(node.heredocs) };
}

function parseRun(node: InstructionNode): Command {
  const flags = parseFlags(node.flags, { mount: 'strings', network: 'string', security: 'string' });
  const network = flags.network ?? 'default';
  if (network !== 'default' && network !== 'none' && network !== 'host') {
    throw new InstructionError(`invalid network mode "${network}"`, 'use --network=default, none or host');
  }
  const security = flags.security ?? 'sandbox';
  if (security !== 'sandbox' && security !== 'insecure') {
    throw new InstructionError(`security "${security}" is not valid`, 'use --security=sandbox or insecure');
  }
  const mounts: RunMount[] = flags.mount.map((spec) => parseMount(spec));
  return {
    kind: 'run',
    ...base(node),
    ...commandLine(node, false),
    mountSpecs: flags.mount,
    mounts,
    network: network satisfies NetworkMode,
    security: security satisfies SecurityMode,
  };
}

function parseOnbuild(node: InstructionNode): Command {
  if (node.args.length === 0 && node.child === undefined) throw new InstructionError('ONBUILD requires at least one argument');
  noFlags(node);
  const trigger = (node.child?.keyword ?? node.args[0] ?? '').trim().toUpperCase();
  if (trigger === 'ONBUILD') throw new InstructionError('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (trigger === 'MAINTAINER' || trigger === 'FROM') throw new InstructionError(`${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
  const heredocs = node.child?.heredocs ?? node.heredocs;
  for (const heredoc of heredocs) expression += `\n${heredoc.content}${heredoc.name}`;
  return { kind: 'onbuild', ...base(node), expression };
}

function parseDurationFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const ns = parseGoDuration(value);
  if (ns === undefined) throw new InstructionError(`time: invalid duration "${value}"`, `--${name} takes a duration such as 30s, 1m30s or 500ms`);
  if (ns === 0) return 0;
  if (ns < 1e6) throw new InstructionError(`Interval "${name}" cannot be less than 1ms`);
  return ns;
}

function parseHealth(node: InstructionNode): HealthConfig {
  if (node.args.length === 0) throw new InstructionError('HEALTHCHECK requires at least one argument');
  const type = (node.args[0] ?? '').toUpperCase();
  const rest = node.args.slice(1);
  if (type === 'NONE') {
    if (rest.length !== 0) throw new InstructionError('HEALTHCHECK NONE takes no arguments');
    noFlags(node);
    return { test: ['NONE'] };
  }
  const flags = parseFlags(node.flags, { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' });
  if (type !== 'CMD') throw new InstructionError(`Unknown type "${type}" in HEALTHCHECK (try CMD)`, 'write HEALTHCHECK [OPTIONS] CMD <command> or HEALTHCHECK NONE');
  const cmd = rest.length === 0 ? [] : node.json ? rest : [rest.join(' ')];
  if (cmd.length === 0) throw new InstructionError('Missing command after HEALTHCHECK CMD');
  let retries: number | undefined;
  if (flags.retries !== undefined && flags.retries !== '') {
    if (!/^[+-]?\d+$/.test(flags.retries)) throw new InstructionError(`strconv.ParseInt: parsing "${flags.retries}": invalid syntax`, '--retries takes a whole number');
    retries = Number.parseInt(flags.retries, 10);
    if (retries < 0) throw new InstructionError(`--retries cannot be negative (${retries})`);
  }
  return {
    test: [node.json ? 'CMD' : 'CMD-SHELL', ...cmd],
    interval: parseDurationFlag('interval', flags.interval),
    timeout: parseDurationFlag('timeout', flags.timeout),
    startPeriod: parseDurationFlag('start-period', flags['start-period']),
    startInterval: parseDurationFlag('start-interval', flags['start-interval']),
    retries: retries ?? 0,
  };
}

/** `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` as a COPY/ADD source; undefined if not a heredoc. */
export function heredocMarker(word: string): { name: string; chomp: boolean } | undefined {
  const match = /^\d*<<(-?)([^<]*)$/.exec(word);
  if (match === null || (match[2] ?? '') === '') return undefined;
  const name = (match[2] ?? '').replace(/["']/g, '');
  return { name, chomp: match[1] === '-' };
}

function sourcesAndDest(node: InstructionNode, name: string): Pick<SourcesAndDest, 'sources' | 'contents' | 'dest'> {
  const args = node.args;
  if (args.length < 2) {
    throw new InstructionError(`${name} requires at least two arguments, but only one was provided. Destination could not be determined`, `write ${name} <src>... <dest>`);
  }
  const dest = args.at(-1) ?? '';
  if (heredocMarker(dest) !== undefined && node.heredocs.length > 0) throw new InstructionError(`${name} cannot accept a heredoc as a destination`);
  const byName = new Map(node.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const contents: InlineFile[] = [];
  for (const src of args.slice(0, -1)) {
    const marker = node.heredocs.length > 0 ? heredocMarker(src) : undefined;
    const heredoc = marker === undefined ? undefined : byName.get(marker.name);
    if (heredoc !== undefined) {
      contents.push({ name: heredoc.name, data: heredoc.content, chomp: heredoc.chomp, expand: heredoc.expand });
    } else {
      sources.push(src);
    }
  }
  return { sources, contents, dest };
}

function validateChmod(value: string | undefined): void {
  if (value === undefined || value === '' || value.includes('$')) return;
  if (!/^[0-7]{1,4}$/.test(value) && !/^([ugoa]*[-+=][rwxXst]*)(,[ugoa]*[-+=][rwxXst]*)*$/.test(value)) {
    throw new InstructionError(`invalid chmod parameter: ${value}`, 'use an octal mode such as 0755 (or a symbolic one such as u+x)');
  }
}

function validateChecksum(value: string | undefined): void {
  if (value === undefined || value === '' || value.includes('$')) return;
  if (!/^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/.test(value)) {
    throw new InstructionError(`invalid checksum digest format: ${value}`, 'use --checksum=sha256:<64 hex digits>');
  }
}

function parseCopy(node: InstructionNode): CopyInstruction {
  if (node.args.length < 2) sourcesAndDest(node, 'COPY');
  const flags = parseFlags(node.flags, { chown: 'string', from: 'string', chmod: 'string', link: 'bool', exclude: 'strings', parents: 'bool' });
  validateChmod(flags.chmod);
  if (flags.from !== undefined && flags.from === '') throw new InstructionError('--from requires a stage name, stage index or image', 'write --from=<stage|index|image>');
  return {
    kind: 'copy',
    ...base(node),
    ...sourcesAndDest(node, 'COPY'),
    from: flags.from,
    chown: flags.chown,
    chmod: flags.chmod,
    link: flags.link ?? false,
    parents: flags.parents ?? false,
    excludes: flags.exclude,
  };
}

function parseAdd(node: InstructionNode): AddInstruction {
  if (node.args.length < 2) sourcesAndDest(node, 'ADD');
  const flags = parseFlags(node.flags, {
    chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', unpack: 'bool', exclude: 'strings',
  });
  validateChmod(flags.chmod);
  validateChecksum(flags.checksum);
  return {
    kind: 'add',
    ...base(node),
    ...sourcesAndDest(node, 'ADD'),
    chown: flags.chown,
    chmod: flags.chmod,
    link: flags.link ?? false,
    keepGitDir: flags['keep-git-dir'],
    checksum: flags.checksum,
    unpack: flags.unpack,
    excludes: flags.exclude,
  };
}

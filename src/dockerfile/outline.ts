/**
 * `build --call outline` and `--call targets`: what a Dockerfile asks of its caller, read without
 * running anything (BuildKit's frontend.outline and frontend.targets subrequests). Pure.
 *
 * - targets: every stage, its description (a comment above FROM that starts with the stage name:
 *   `# build compiles the app`), its base and platform; the last stage is the default.
 * - outline: the target stage's name and description, the build args its needed stages use (with the
 *   value they would get and the comment above their ARG that starts with the arg's name), the secrets
 *   and ssh agents their RUN steps mount.
 */
import type { SourceRange } from '../core/index.js';
import type { ArgInstruction, Command, ParsedDockerfile, RunInstruction } from './instructions/index.js';
import type { ShellLex } from './shell/index.js';
import type { Platform } from '../core/index.js';
import { buildStageGraph } from './convert/index.js';

export interface OutlineLocation {
  readonly line: number;
}

export interface OutlineArg {
  readonly name: string;
  readonly value?: string | undefined;
  readonly description?: string | undefined;
  readonly location: OutlineLocation;
}

export interface OutlineMount {
  readonly name: string;
  readonly required: boolean;
  readonly location: OutlineLocation;
}

export interface Outline {
  /** The target stage's name ('' for an unnamed last stage). */
  readonly name: string;
  readonly description?: string | undefined;
  readonly args: readonly OutlineArg[];
  readonly secrets: readonly OutlineMount[];
  readonly ssh: readonly OutlineMount[];
}

export interface TargetEntry {
  readonly name: string;
  readonly default: boolean;
  readonly description?: string | undefined;
  readonly base: string;
  readonly platform?: string | undefined;
  readonly location: OutlineLocation;
}

export interface OutlineOptions {
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly target?: string | undefined;
  readonly buildPlatform: Platform;
  readonly targetPlatform?: Platform | undefined;
  readonly lex: ShellLex;
}

/** BuildKit's getDocComment: the first comment line that starts with `NAME ` gives the rest. */
function docComment(comments: readonly string[], name: string | undefined): string | undefined {
  if (name === undefined || name === '') return undefined;
  for (const line of comments) if (line.startsWith(`${name} `)) return line.slice(name.length + 1);
  return undefined;
}

function at(range: SourceRange): OutlineLocation {
  return { line: range.start.line };
}

/** Every stage of the Dockerfile as a target (BuildKit ListTargets). */
export function listTargets(parsed: ParsedDockerfile): TargetEntry[] {
  return parsed.stages.map((stage, i) => ({
    name: stage.from.stageName ?? '',
    default: i === parsed.stages.length - 1,
    description: docComment(stage.from.comments, stage.from.stageName),
    base: stage.from.baseName,
    platform: stage.from.platform,
    location: at(stage.from.range),
  }));
}

/** `$NAME` or `${NAME…}` in `text` (a use of the variable). */
function references(text: string, name: string): boolean {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/gu, '\\$&');
  return new RegExp(`\\$(?:${escaped}(?![A-Za-z0-9_])|\\{${escaped}(?![A-Za-z0-9_]))`, 'u').test(text);
}

function usedAfter(commands: readonly Command[], from: number, name: string): boolean {
  return commands.slice(from + 1).some((command) => references(command.original, name));
}

export function outlineDockerfile(parsed: ParsedDockerfile, options: OutlineOptions): Outline {
  const graph = buildStageGraph(parsed, options);
  const target = graph.stages[graph.target];
  if (target === undefined) throw new Error('outlineDockerfile: the stage graph has no target');
  const args = new Map<string, OutlineArg>();
  const secrets = new Map<string, OutlineMount>();
  const ssh = new Map<string, OutlineMount>();
  const add = (command: ArgInstruction, name: string, value: string | undefined): void => {
    if (args.has(name)) return;
    const description = docComment(command.comments, name);
    args.set(name, { name, ...(value !== undefined ? { value } : {}), ...(description !== undefined ? { description } : {}), location: at(command.range) });
  };
  const globals = new Map<string, ArgInstruction>();
  for (const meta of parsed.metaArgs) for (const def of meta.args) if (!globals.has(def.key)) globals.set(def.key, meta);
  for (const index of graph.needed) {
    const stage = graph.stages[index];
    if (stage === undefined) continue;
    // Global ARGs used by the FROM line.
    for (const [name, meta] of globals) {
      if (references(stage.stage.from.original, name)) add(meta, name, graph.globalArgs.values.get(name));
    }
    const commands = stage.stage.commands;
    // The stage's ARG values so far, for defaults that name other args (`ARG B=$A`).
    const scope = new Map<string, string>();
    commands.forEach((command, i) => {
      if (command.kind === 'arg') {
        for (const def of command.args) {
          const inherited = def.value === undefined ? globals.get(def.key) : undefined;
          const value = inherited !== undefined ? graph.globalArgs.values.get(def.key) : (options.buildArgs.get(def.key) ?? expand(options.lex, def.value, scope));
          if (value !== undefined) scope.set(def.key, value);
          if (!usedAfter(commands, i, def.key)) continue;
          add(inherited ?? command, def.key, value);
        }
      }
      if (command.kind === 'run') collectMounts(command, secrets, ssh);
    });
  }
  const byLine = <T extends { location: OutlineLocation }>(items: Iterable<T>): T[] => [...items].sort((a, b) => a.location.line - b.location.line);
  const description = docComment(target.stage.from.comments, target.name);
  return {
    name: target.name ?? '',
    ...(description !== undefined ? { description } : {}),
    args: byLine(args.values()),
    secrets: byLine(secrets.values()),
    ssh: byLine(ssh.values()),
  };
}

/** An ARG default as the shell would give it (quotes removed, variables of `scope` expanded). */
function expand(lex: ShellLex, value: string | undefined, scope: ReadonlyMap<string, string>): string | undefined {
  if (value === undefined) return undefined;
  try {
    return lex.processWord(value, (name) => scope.get(name));
  } catch {
    return value;
  }
}

function collectMounts(command: RunInstruction, secrets: Map<string, OutlineMount>, ssh: Map<string, OutlineMount>): void {
  for (const mount of command.mounts) {
    if (mount.type === 'secret') {
      const name = mount.id ?? (mount.target ?? '').split('/').filter((p) => p !== '').at(-1) ?? '';
      if (name !== '' && !secrets.has(name)) secrets.set(name, { name, required: mount.required, location: at(command.range) });
    } else if (mount.type === 'ssh') {
      const name = mount.id ?? 'default';
      if (!ssh.has(name)) ssh.set(name, { name, required: mount.required, location: at(command.range) });
    }
  }
}

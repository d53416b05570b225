/**
 * Builds the LintModel: the stages with their bases and dependencies (resolved leniently: a duplicate
 * name or a cycle is for rules to report, not a failure here), the global ARG scopes and the target.
 */
import { parsePlatform, type Platform } from '../../core/index.js';
import { predefinedPlatformArgs, resolveGlobalArgs } from '../convert/args.js';
import type { ParsedDockerfile } from '../instructions/index.js';
import { ShellLex } from '../shell/index.js';
import type { DockerfileAst } from '../syntax/index.js';
import type { LintModel, LintOptions, ModelStage } from './types.js';

function tryGlobals(parsed: ParsedDockerfile, buildArgs: ReadonlyMap<string, string>, predefined: ReadonlyMap<string, string>, lex: ShellLex): ReadonlyMap<string, string> | undefined {
  try {
    return resolveGlobalArgs(parsed.metaArgs, buildArgs, predefined, lex, parsed.file).values;
  } catch {
    return undefined;
  }
}

export function buildLintModel(ast: DockerfileAst, parsed: ParsedDockerfile, options: LintOptions): LintModel {
  const lex = new ShellLex({ escapeToken: parsed.escapeToken });
  const buildArgs = options.buildArgs ?? new Map<string, string>();
  const targetPlatform = options.targetPlatform ?? options.buildPlatform;
  const lastName = parsed.stages.at(-1)?.from.stageName ?? '';
  const predefined = predefinedPlatformArgs(options.buildPlatform, targetPlatform, options.target ?? lastName, buildArgs);
  const globalValues = tryGlobals(parsed, buildArgs, predefined, lex) ?? predefined;
  const defaultGlobalValues = tryGlobals(parsed, new Map(), predefinedPlatformArgs(options.buildPlatform, targetPlatform, options.target ?? lastName, new Map()), lex);
  const globalDeclared = new Set(parsed.metaArgs.flatMap((a) => a.args.map((arg) => arg.key)));

  const byName = new Map<string, number>();
  const stages: ModelStage[] = [];
  for (const stage of parsed.stages) {
    let baseName: string | undefined;
    try {
      baseName = lex.processWord(stage.from.baseName, (name) => globalValues.get(name));
    } catch {
      baseName = undefined;
    }
    let platform = targetPlatform;
    if (stage.from.platform !== undefined) {
      try {
        platform = parsePlatform(lex.processWord(stage.from.platform, (name) => globalValues.get(name)));
      } catch {
        platform = targetPlatform;
      }
    }
    const parent = baseName === undefined ? undefined : byName.get(baseName.toLowerCase());
    const stageRef = (ref: string): number | undefined => {
      if (/^\d+$/.test(ref)) {
        const index = Number.parseInt(ref, 10);
        return index < parsed.stages.length ? index : undefined;
      }
      return byName.get(ref.toLowerCase());
    };
    const dependencies = new Set<number>();
    if (parent !== undefined) dependencies.add(parent);
    for (const command of stage.commands) {
      if (command.kind === 'copy' && command.from !== undefined) {
        const index = stageRef(command.from);
        if (index !== undefined) dependencies.add(index);
      }
      if (command.kind === 'run') {
        for (const mount of command.mounts) {
          const index = mount.from === undefined || mount.from === '' ? undefined : stageRef(mount.from);
          if (index !== undefined) dependencies.add(index);
        }
      }
    }
    stages.push({
      index: stage.index,
      stage,
      name: stage.from.stageName,
      baseName,
      parent,
      scratch: parent === undefined && baseName === 'scratch',
      dependencies: [...dependencies],
      baseImage: options.baseImages?.get(stage.index),
      platform,
    });
    if (stage.from.stageName !== undefined && !byName.has(stage.from.stageName)) byName.set(stage.from.stageName, stage.index);
  }
  // COPY --from may name a later stage: resolve those now that every name is known.
  const resolved = stages.map((s) => {
    const all = new Set(s.dependencies);
    for (const command of s.stage.commands) {
      if (command.kind === 'copy' && command.from !== undefined && !/^\d+$/.test(command.from)) {
        const index = byName.get(command.from.toLowerCase());
        if (index !== undefined) all.add(index);
      }
    }
    return all.size === s.dependencies.length ? s : { ...s, dependencies: [...all] };
  });

  let target = resolved.length - 1;
  if (options.target !== undefined && options.target !== '') {
    const found = byName.get(options.target.toLowerCase());
    if (found !== undefined) target = found;
  }
  const needed = new Set<number>();
  const pending = resolved.length > 0 ? [target] : [];
  while (pending.length > 0) {
    const index = pending.pop();
    if (index === undefined || needed.has(index)) continue;
    needed.add(index);
    for (const dep of resolved[index]?.dependencies ?? []) pending.push(dep);
  }
  const inBuild = options.baseImages !== undefined;
  return {
    file: options.file,
    ast,
    parsed,
    stages: resolved,
    target,
    needed,
    checks: (index) => !inBuild || needed.has(index),
    lex,
    buildArgs,
    globalValues,
    defaultGlobalValues,
    globalDeclared,
    targetPlatform,
    dockerignore: options.dockerignore ?? [],
    contextCredentials: options.contextCredentials ?? [],
    imagesKnown: inBuild,
  };
}

/** The stages whose filesystem and config end up in `index`'s image: itself and its FROM ancestors, base first. */
export function stageChain(model: LintModel, index: number): ModelStage[] {
  const chain: ModelStage[] = [];
  const seen = new Set<number>();
  let current: number | undefined = index;
  while (current !== undefined && !seen.has(current)) {
    seen.add(current);
    const stage: ModelStage | undefined = model.stages[current];
    if (stage === undefined) break;
    chain.unshift(stage);
    current = stage.parent;
  }
  return chain;
}

export type { Platform };

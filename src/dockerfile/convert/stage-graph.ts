/**
 * The stage graph: which stage builds on which (`FROM <stage>`), which stages or images each stage
 * reads from (`COPY --from`, `RUN --mount=from=`), and which stages a target needs. Mirrors BuildKit's
 * dispatch-state construction: a FROM can name only an earlier stage, `--from` any stage (cycles are
 * errors), names are case-insensitive and stages can be referred to by index.
 */
import { StagecraftError, closest, type Platform, type SourceRange } from '../../core/index.js';
import type { ParsedDockerfile, Stage } from '../instructions/index.js';
import type { ShellLex } from '../shell/index.js';
import { contextKey } from './named-contexts.js';
import { isBuilderArg, resolveGlobalArgs, predefinedPlatformArgs, locate, type GlobalArgs } from './args.js';

export type StageBase =
  | { readonly kind: 'scratch' }
  | { readonly kind: 'image'; readonly ref: string }
  | { readonly kind: 'stage'; readonly index: number }
  /** A named build context (`--build-context`), by its key (named-contexts.ts `contextKey`). */
  | { readonly kind: 'named'; readonly name: string };

export type DependencyVia = 'from' | 'copy' | 'mount';

export interface StageDependency {
  readonly via: DependencyVia;
  /** The Dockerfile line that creates the dependency. */
  readonly line: number;
  readonly source: { readonly kind: 'stage'; readonly index: number } | { readonly kind: 'image'; readonly ref: string } | { readonly kind: 'named'; readonly name: string };
}

export interface GraphStage {
  readonly index: number;
  /** The `AS` name, lower-cased. */
  readonly name?: string | undefined;
  /** `name`, or `stage-N` for unnamed stages (BuildKit's display name). */
  readonly displayName: string;
  /** The FROM argument after expansion with the global ARGs. */
  readonly baseName: string;
  readonly base: StageBase;
  /** `--platform` after expansion, if given. */
  readonly platform?: string | undefined;
  readonly dependencies: readonly StageDependency[];
  readonly stage: Stage;
  /** A named context of the stage's name replaces the stage: its instructions are not run (base is `named`). */
  readonly replaced?: boolean | undefined;
}

export interface StageGraphOptions {
  readonly buildArgs?: ReadonlyMap<string, string>;
  /** Target stage name; default the last stage. */
  readonly target?: string | undefined;
  readonly buildPlatform: Platform;
  readonly targetPlatform?: Platform | undefined;
  readonly lex: ShellLex;
  /** Keys of the named build contexts (`--build-context`). */
  readonly namedContexts?: ReadonlySet<string> | undefined;
}

export interface StageGraph {
  readonly file: string;
  readonly stages: readonly GraphStage[];
  readonly target: number;
  /** Indexes of the stages the target needs (itself included), ascending. */
  readonly needed: readonly number[];
  /** `needed` in an order where every stage comes after the stages it depends on. */
  readonly order: readonly number[];
  readonly globalArgs: GlobalArgs;
  /** Build args no ARG of a needed stage (or the global scope) declares. */
  readonly unusedBuildArgs: readonly string[];
}

function stageError(file: string, range: SourceRange | undefined, message: string, hint?: string): StagecraftError {
  return new StagecraftError('DOCKERFILE_STAGE', message, { hint, location: range === undefined ? undefined : { file, range } });
}

export function buildStageGraph(parsed: ParsedDockerfile, options: StageGraphOptions): StageGraph {
  const { file } = parsed;
  if (parsed.stages.length === 0) {
    throw new StagecraftError('DOCKERFILE_STAGE', `${file}: the Dockerfile has no stages to build`, { hint: 'add a FROM instruction' });
  }
  const buildArgs = options.buildArgs ?? new Map<string, string>();
  const targetName = options.target ?? parsed.stages.at(-1)?.from.stageName ?? '';
  const predefined = predefinedPlatformArgs(options.buildPlatform, options.targetPlatform ?? options.buildPlatform, targetName, buildArgs);
  const globalArgs = resolveGlobalArgs(parsed.metaArgs, buildArgs, predefined, options.lex, file);
  const lookupGlobal = (name: string): string | undefined => globalArgs.values.get(name);
  const contexts = options.namedContexts ?? new Set<string>();
  const namedContext = (ref: string): string | undefined => {
    if (contexts.size === 0) return undefined;
    const key = contextKey(ref);
    return key !== undefined && contexts.has(key) ? key : undefined;
  };

  const byName = new Map<string, number>();
  const partial: { index: number; name?: string | undefined; baseName: string; base: StageBase; platform?: string | undefined; stage: Stage; replaced: boolean }[] = [];
  for (const stage of parsed.stages) {
    const from = stage.from;
    let baseName: string;
    let platform: string | undefined;
    try {
      baseName = options.lex.processWord(from.baseName, lookupGlobal);
      if (from.platform !== undefined) platform = options.lex.processWord(from.platform, lookupGlobal);
    } catch (error) {
      throw locate(error, file, from);
    }
    if (baseName === '') {
      throw stageError(file, from.range, `${file}:${from.range.start.line}: base name (${from.baseName}) should not be blank`,
        'give the ARG used in FROM a default in the global scope, or pass it with --build-arg');
    }
    if (platform !== undefined && platform === '') {
      throw stageError(file, from.range, `${file}:${from.range.start.line}: empty platform value from expression ${from.platform ?? ''}`, 'pass the ARG with --build-arg or give it a default');
    }
    const earlier = byName.get(baseName.toLowerCase());
    // BuildKit's order: an earlier stage, then scratch, then a named context, then an image.
    const context = earlier === undefined && baseName !== 'scratch' ? namedContext(baseName) : undefined;
    let base: StageBase = earlier !== undefined ? { kind: 'stage', index: earlier } : baseName === 'scratch' ? { kind: 'scratch' } : context !== undefined ? { kind: 'named', name: context } : { kind: 'image', ref: baseName };
    // A named context of the stage's own name replaces the whole stage.
    const replacing = from.stageName !== undefined ? namedContext(from.stageName) : undefined;
    if (replacing !== undefined) base = { kind: 'named', name: replacing };
    if (from.stageName !== undefined) {
      const existing = byName.get(from.stageName);
      if (existing !== undefined) {
        throw stageError(file, from.range, `${file}:${from.range.start.line}: duplicate stage name "${from.stageName}"`,
          `stage ${existing} is already named "${from.stageName}"; rename one of them`);
      }
      byName.set(from.stageName, stage.index);
    }
    partial.push({ index: stage.index, name: from.stageName, baseName, base, platform, stage, replaced: replacing !== undefined });
  }

  const resolveRef = (ref: string, range: SourceRange, flag: string): StageDependency['source'] => {
    if (/^\d+$/.test(ref)) {
      const index = Number.parseInt(ref, 10);
      if (index >= parsed.stages.length) {
        throw stageError(file, range, `${file}:${range.start.line}: invalid stage index ${ref}`,
          `${flag} takes a stage name or an index from 0 to ${parsed.stages.length - 1}`);
      }
      return { kind: 'stage', index };
    }
    const named = byName.get(ref.toLowerCase());
    if (named !== undefined) return { kind: 'stage', index: named };
    const context = namedContext(ref);
    if (context !== undefined) return { kind: 'named', name: context };
    return { kind: 'image', ref };
  };

  const stages: GraphStage[] = partial.map((p) => {
    const dependencies: StageDependency[] = [];
    if (p.replaced) {
      return { index: p.index, name: p.name, displayName: p.name ?? `stage-${p.index}`, baseName: p.baseName, base: p.base, platform: p.platform, dependencies, stage: p.stage, replaced: true };
    }
    if (p.base.kind === 'stage') {
      dependencies.push({ via: 'from', line: p.stage.from.range.start.line, source: { kind: 'stage', index: p.base.index } });
    }
    for (const command of p.stage.commands) {
      if (command.kind === 'copy' && command.from !== undefined) {
        if (command.from.includes('$')) {
          throw stageError(file, command.range, `${file}:${command.range.start.line}: variable expansion is not supported for --from`,
            'define a new stage with FROM using an ARG from the global scope, and use its name in --from');
        }
        dependencies.push({ via: 'copy', line: command.range.start.line, source: resolveRef(command.from, command.range, '--from') });
      }
      if (command.kind === 'run') {
        for (const mount of command.mounts) {
          if (mount.from !== undefined && mount.from !== '') {
            dependencies.push({ via: 'mount', line: command.range.start.line, source: resolveRef(mount.from, command.range, '--mount from') });
          }
        }
      }
    }
    return { index: p.index, name: p.name, displayName: p.name ?? `stage-${p.index}`, baseName: p.baseName, base: p.base, platform: p.platform, dependencies, stage: p.stage };
  });

  const order = topologicalOrder(stages, file);

  let target = stages.length - 1;
  if (options.target !== undefined && options.target !== '') {
    const found = byName.get(options.target.toLowerCase());
    if (found === undefined) {
      const names = stages.flatMap((s) => (s.name === undefined ? [] : [s.name]));
      const guess = closest(options.target, names);
      throw new StagecraftError('DOCKERFILE_STAGE', `target stage "${options.target}" could not be found in ${file}`, {
        hint: guess !== undefined ? `did you mean "${guess}"?` : names.length > 0 ? `stages are: ${names.join(', ')}` : 'the Dockerfile has no named stages; name one with FROM <image> AS <name>',
      });
    }
    target = found;
  }

  const neededSet = new Set<number>([target]);
  const pending = [target];
  while (pending.length > 0) {
    const index = pending.pop() ?? target;
    for (const dependency of stages[index]?.dependencies ?? []) {
      if (dependency.source.kind === 'stage' && !neededSet.has(dependency.source.index)) {
        neededSet.add(dependency.source.index);
        pending.push(dependency.source.index);
      }
    }
  }
  const needed = [...neededSet].sort((a, b) => a - b);

  const declared = new Set(globalArgs.declared);
  for (const index of needed) {
    for (const command of stages[index]?.stage.commands ?? []) {
      if (command.kind === 'arg') for (const arg of command.args) declared.add(arg.key);
    }
  }
  const unusedBuildArgs = [...buildArgs.keys()].filter((key) => !declared.has(key) && !isBuilderArg(key) && !predefined.has(key)).sort();

  return { file, stages, target, needed, order: order.filter((i) => neededSet.has(i)), globalArgs, unusedBuildArgs };
}

/** Kahn's algorithm over stage dependencies; a cycle is an error naming a stage on it. */
function topologicalOrder(stages: readonly GraphStage[], file: string): number[] {
  const state = new Uint8Array(stages.length); // 0 new, 1 on stack, 2 done
  const order: number[] = [];
  for (const root of stages) {
    if (state[root.index] !== 0) continue;
    // iterative DFS so a 10,000-stage chain does not overflow the call stack
    const stack: { index: number; next: number }[] = [{ index: root.index, next: 0 }];
    state[root.index] = 1;
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      if (frame === undefined) break;
      const deps = stages[frame.index]?.dependencies ?? [];
      if (frame.next < deps.length) {
        const dependency = deps[frame.next++];
        if (dependency?.source.kind !== 'stage') continue;
        const child = dependency.source.index;
        if (state[child] === 1) {
          const stage = stages[child];
          throw new StagecraftError('DOCKERFILE_STAGE', `circular dependency detected on stage: ${stage?.displayName ?? child}`, {
            hint: `${file}:${dependency.line} closes the cycle; a stage cannot (indirectly) copy from itself`,
            location: stage === undefined ? undefined : { file, range: stages[frame.index]?.stage.from.range ?? stage.stage.from.range },
          });
        }
        if (state[child] === 0) {
          state[child] = 1;
          stack.push({ index: child, next: 0 });
        }
      } else {
        state[frame.index] = 2;
        order.push(frame.index);
        stack.pop();
      }
    }
  }
  return order;
}

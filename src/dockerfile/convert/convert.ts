/**
 * Dockerfile → build plan: evaluates every stage the target needs, in dependency order, into plan
 * vertices (sources, exec, file, merge) and the stage's image config and history, with BuildKit's
 * variable-expansion and ARG/ENV scope rules. Pure given `resolveImage` (STYLE rule 10).
 */
import { posix } from 'node:path';
import { StagecraftError, formatPlatform, parsePlatform, type Platform, type SourceRange } from '../../core/index.js';
import type { ContainerConfig, History, ImageConfig } from '../../oci/index.js';
import { PlanBuilder, type ExecMount, type ExecSettings, type FileAction, type Plan, type VertexId } from '../../plan/index.js';
import {
  FlagError,
  parseMount,
  secretMountId,
  sshMountId,
  type Command,
  type CopyInstruction,
  type AddInstruction,
  type ParsedDockerfile,
  type RunInstruction,
} from '../instructions/index.js';
import { DOCKERFILE_LIMITS, clip, formatSize } from '../limits.js';
import { ShellLex } from '../shell/index.js';
import { PROXY_ARGS } from './args.js';
import {
  DEFAULT_PATH,
  DEFAULT_SHELL,
  HISTORY_COMMENT,
  addEnv,
  cloneImage,
  emptyImage,
  envKey,
  envValue,
  goList,
  goQuoteList,
  healthcheckHistory,
  setOwn,
  type WorkingImage,
} from './image-config.js';
import { PortError, parsePorts } from './ports.js';
import { contextKey, namedContextName, type ConvertNamedContext } from './named-contexts.js';
import { buildStageGraph, type GraphStage, type StageGraph } from './stage-graph.js';

export interface ResolvedImage {
  /** The reference as resolved (normalised, with digest if known). */
  readonly ref: string;
  /** The image's config as stored (the conversion works on a copy). */
  readonly image: ImageConfig;
}

export interface ConvertOptions {
  readonly lex: ShellLex;
  readonly buildArgs?: ReadonlyMap<string, string>;
  readonly target?: string | undefined;
  readonly buildPlatform: Platform;
  readonly targetPlatform?: Platform | undefined;
  /** Base image configs; called once per distinct image of a needed stage. */
  readonly resolveImage: (ref: string, platform: Platform) => Promise<ResolvedImage>;
  /** Parses ONBUILD trigger text (the Dockerfile parser), so convert stays independent of syntax/. */
  readonly parseTriggers?: ((text: string) => readonly Command[]) | undefined;
  /** Stages (by name) whose steps ignore the cache. */
  readonly noCacheFilter?: ReadonlySet<string> | undefined;
  readonly noCache?: boolean | undefined;
  /** SOURCE_DATE_EPOCH in seconds: clamps file times and sets history times. */
  readonly sourceDateEpoch?: number | undefined;
  /** `--add-host`, `--shm-size`, `--ulimit`: written into every RUN step's op (so into its cache key). */
  readonly exec?: ExecSettings | undefined;
  /** Named build contexts (`--build-context`) by key (`contextKey`); an OCI layout is given as its image. */
  readonly namedContexts?: ReadonlyMap<string, ConvertNamedContext> | undefined;
}

export interface ConvertedStage {
  readonly index: number;
  readonly name?: string | undefined;
  readonly displayName: string;
  /** The stage's final filesystem. */
  readonly root: VertexId;
  /** The image config the stage's Dockerfile lines made, `rootfs` aside (the base image's; see WorkingImage). */
  readonly image: ImageConfig & { readonly config: ContainerConfig; readonly history: readonly History[] };
  /** The resolved base image reference, when the stage starts from an image. */
  readonly baseRef?: string | undefined;
  /** Secret ids the stage's RUN steps mount, with whether they are required. */
  readonly secrets: ReadonlyMap<string, boolean>;
  readonly sshIds: ReadonlySet<string>;
  /** The stage's ARGs (declared in it or inherited from its base stage) with their values. */
  readonly buildArgs: ReadonlyMap<string, string | undefined>;
}

export interface ConvertResult {
  readonly graph: StageGraph;
  readonly plan: Plan;
  readonly stages: ReadonlyMap<number, ConvertedStage>;
  readonly target: ConvertedStage;
  readonly warnings: readonly string[];
}

interface StageState {
  root: VertexId;
  image: WorkingImage;
  /** The environment instructions expand with: image Env plus ARG values. */
  env: string[];
  /** ARGs declared in this stage (and inherited from a base stage), with their values. */
  buildArgs: { key: string; value: string | undefined }[];
  commandIndex: number;
  commandTotal: number;
  cmdSet: boolean;
  secrets: Map<string, boolean>;
  sshIds: Set<string>;
}

const CONTEXT_NAME = 'context';

export async function convertDockerfile(parsed: ParsedDockerfile, options: ConvertOptions): Promise<ConvertResult> {
  const namedContexts = options.namedContexts ?? new Map<string, ConvertNamedContext>();
  const graph = buildStageGraph(parsed, { ...options, namedContexts: new Set(namedContexts.keys()) });
  const builder = new PlanBuilder();
  const platform = options.targetPlatform ?? options.buildPlatform;
  const buildArgs = options.buildArgs ?? new Map<string, string>();
  const file = parsed.file;
  const lex = options.lex;
  const displayLex = new ShellLex({ escapeToken: parsed.escapeToken, rawQuotes: true, skipUnsetEnv: true });
  const warnings = graph.unusedBuildArgs.length > 0 ? [`one or more build-args [${graph.unusedBuildArgs.join(' ')}] were not consumed`] : [];
  const proxyEnv = [...buildArgs].filter(([key]) => PROXY_ARGS.has(key)).map(([key, value]) => `${key}=${value}`);

  // Resolve every image the needed stages use, all at once.
  const imageRefs = new Map<string, Promise<ResolvedImage>>();
  const resolve = (ref: string, stagePlatform: Platform): Promise<ResolvedImage> => {
    const key = `${ref}@${formatPlatform(stagePlatform)}`;
    let pending = imageRefs.get(key);
    if (pending === undefined) {
      pending = options.resolveImage(ref, stagePlatform);
      imageRefs.set(key, pending);
    }
    return pending;
  };
  const stagePlatform = (stage: GraphStage): Platform => (stage.platform !== undefined ? parsePlatformText(stage.platform, file, stage) : platform);
  const namedImage = (name: string): string | undefined => {
    const context = namedContexts.get(name);
    return context?.kind === 'image' ? context.ref : undefined;
  };
  for (const index of graph.needed) {
    const stage = graph.stages[index];
    if (stage === undefined) continue;
    const baseRef = stage.base.kind === 'image' ? stage.base.ref : stage.base.kind === 'named' ? namedImage(stage.base.name) : undefined;
    if (baseRef !== undefined) void resolve(baseRef, stagePlatform(stage)).catch(() => undefined);
  }

  const scratch = (): VertexId => builder.add({ type: 'scratch' }, [], { name: 'scratch' });
  const imageVertex = (ref: string, p: Platform): VertexId =>
    builder.add({ type: 'image', ref, platform: p }, [], { name: `[internal] load metadata for ${ref}` });
  const contextVertex = (include: readonly string[]): VertexId =>
    builder.add({ type: 'context', name: CONTEXT_NAME, include: [...include].sort(), exclude: [] }, [], { name: `[internal] load build context` });
  /** The vertex of a named context (`include`: the paths a directory context's consumer reads), or undefined. */
  const namedVertex = (name: string, include: readonly string[], p: Platform): VertexId | undefined => {
    const context = namedContexts.get(name);
    if (context === undefined) return undefined;
    switch (context.kind) {
      case 'local':
        return builder.add({ type: 'context', name: namedContextName(name), include: [...include].sort() }, [], { name: `[context ${name}] load from client` });
      case 'image':
        return imageVertex(context.ref, p);
      case 'scratch':
        return scratch();
    }
  };

  /**
   * A named context as a stage's filesystem: a directory becomes one layer of all its files (as
   * BuildKit's local source is a snapshot), keyed by their content.
   */
  const namedRoot = (name: string, p: Platform): VertexId => {
    const source = namedVertex(name, [''], p);
    if (source === undefined) return scratch();
    if (namedContexts.get(name)?.kind !== 'local') return source;
    const copy: FileAction = {
      action: 'copy', input: 1, sources: ['/'], dest: '/', excludes: [], parents: false, unpack: false, destIsDir: true, link: false,
      ...(options.sourceDateEpoch !== undefined ? { mtime: options.sourceDateEpoch } : {}),
    };
    return builder.add({ type: 'file', actions: [copy] }, [scratch(), source], { name: `[context ${name}] snapshot` });
  };

  const converted = new Map<number, ConvertedStage>();
  const states = new Map<number, StageState>();
  const budget: Budget = { instruction: DOCKERFILE_LIMITS.instructionExpansionChars, output: DOCKERFILE_LIMITS.outputChars };

  for (const index of graph.order) {
    const stage = graph.stages[index];
    if (stage === undefined) continue;
    const sPlatform = stagePlatform(stage);
    let state: StageState;
    let baseRef: string | undefined;
    if (stage.base.kind === 'stage') {
      const parent = states.get(stage.base.index);
      if (parent === undefined) throw new Error(`convert: stage ${stage.base.index} not converted before ${index}`);
      // The parent's ONBUILD triggers stay on the clone: they run below, as for an image base.
      const image = cloneImage(parent.image);
      state = { ...parent, image, env: [...parent.env], buildArgs: [...parent.buildArgs], commandIndex: 0, commandTotal: 0, cmdSet: false, secrets: new Map(), sshIds: new Set() };
    } else {
      let image: WorkingImage;
      let root: VertexId;
      const imageRef = stage.base.kind === 'image' ? stage.base.ref : stage.base.kind === 'named' ? namedImage(stage.base.name) : undefined;
      if (imageRef === undefined) {
        // scratch, or a directory (or docker-image://scratch) context: no image config, as BuildKit's emptyImage.
        image = emptyImage(sPlatform);
        root = stage.base.kind === 'named' ? namedRoot(stage.base.name, sPlatform) : scratch();
      } else {
        const resolved = await resolve(imageRef, sPlatform);
        baseRef = resolved.ref;
        image = cloneImage(resolved.image);
        root = imageVertex(resolved.ref, sPlatform);
      }
      const env = image.config.Env ?? [];
      if (!env.some((e) => envKey(e) === 'PATH')) image.config.Env = [...env, `PATH=${DEFAULT_PATH}`];
      state = { root, image, env: [...(image.config.Env ?? [])], buildArgs: [], commandIndex: 0, commandTotal: 0, cmdSet: false, secrets: new Map(), sshIds: new Set() };
    }

    // A stage replaced by a named context is that context as is: no triggers, no instructions.
    const triggers = stage.replaced === true ? [] : state.image.config.OnBuild ?? [];
    if (stage.replaced !== true) state.image.config.OnBuild = undefined;
    const triggerCommands = parseStageTriggers(triggers, options.parseTriggers, file, stage);
    const commands = stage.replaced === true ? [] : [...triggerCommands, ...stage.stage.commands];
    const fromImage = stage.base.kind === 'image' || (stage.base.kind === 'named' && namedImage(stage.base.name) !== undefined);
    state.commandTotal = (fromImage ? 1 : 0) + commands.filter((c) => c.kind === 'run' || c.kind === 'copy' || c.kind === 'add' || c.kind === 'workdir').length;
    if (fromImage) state.commandIndex = 1;
    const ignoreCache = options.noCache === true || (stage.name !== undefined && (options.noCacheFilter?.has(stage.name) ?? false));

    const ctx: DispatchContext = {
      file, lex, displayLex, builder, state, stage, graph, states, platform: sPlatform, buildArgs, globalArgs: graph.globalArgs.values,
      proxyEnv, ignoreCache, contextVertex, scratch, imageVertex: (ref) => imageVertex(ref, platform), namedVertex: (name, include) => namedVertex(name, include, platform),
      epoch: options.sourceDateEpoch, budget, exec: execSettings(options.exec),
    };
    for (const command of commands) {
      try {
        budget.instruction = DOCKERFILE_LIMITS.instructionExpansionChars;
        dispatch(ctx, command);
      } catch (error) {
        if (triggerCommands.includes(command)) throw triggerError(error, file, stage, command.original);
        throw withLocation(error, file, command.range);
      }
    }
    states.set(index, state);
    converted.set(index, {
      index,
      name: stage.name,
      displayName: stage.displayName,
      root: state.root,
      image: state.image,
      baseRef,
      secrets: state.secrets,
      sshIds: state.sshIds,
      buildArgs: new Map(state.buildArgs.map((a) => [a.key, a.value])),
    });
  }

  const target = converted.get(graph.target);
  if (target === undefined) throw new Error('convert: target stage was not converted');
  const roots = graph.order.map((i) => converted.get(i)?.root).filter((r): r is VertexId => r !== undefined);
  return { graph, plan: builder.build([...new Set(roots)]), stages: converted, target, warnings };
}

/**
 * The base's ONBUILD triggers as commands located at the stage's FROM line (their own ranges are lines of
 * the trigger text, not of this Dockerfile). A trigger comes from the base image (untrusted) or an
 * earlier stage; one that does not parse fails the build at the FROM line, naming the trigger.
 */
function parseStageTriggers(triggers: readonly string[], parse: ConvertOptions['parseTriggers'], file: string, stage: GraphStage): Command[] {
  if (triggers.length === 0 || parse === undefined) return [];
  if (triggers.length > DOCKERFILE_LIMITS.instructions) {
    throw triggerError(new DispatchError(`the base has ${triggers.length} ONBUILD triggers, more than the limit of ${DOCKERFILE_LIMITS.instructions} instructions`), file, stage, undefined);
  }
  const range = stage.stage.from.range;
  const commands: Command[] = [];
  for (const trigger of triggers) {
    let parsed: readonly Command[];
    try {
      parsed = parse(trigger);
    } catch (error) {
      throw triggerError(error, file, stage, trigger);
    }
    for (const command of parsed) commands.push({ ...command, range });
  }
  return commands;
}

/** An error of (or in) an ONBUILD trigger, located at the FROM line that ran it. */
function triggerError(error: unknown, file: string, stage: GraphStage, trigger: string | undefined): unknown {
  const range = stage.stage.from.range;
  const what = trigger === undefined ? '' : `ONBUILD trigger ${JSON.stringify(clip(trigger, 200))} of the base: `;
  if (error instanceof StagecraftError) {
    const inner = error.location === undefined ? '' : `${error.location.file}:${error.location.range.start.line}: `;
    const message = inner !== '' && error.message.startsWith(inner) ? error.message.slice(inner.length) : error.message;
    return new StagecraftError(error.code, `${file}:${range.start.line}: ${what}${message}`, { hint: error.hint, cause: error, location: { file, range } });
  }
  if (error instanceof FlagError || error instanceof PortError || error instanceof DispatchError) {
    return new StagecraftError('DOCKERFILE_INSTRUCTION', `${file}:${range.start.line}: ${what}${error.message}`, {
      hint: error instanceof FlagError || error instanceof DispatchError ? error.hint : undefined,
      location: { file, range },
    });
  }
  return error;
}

/** A stage's `FROM --platform` value; an invalid one is an error of its FROM line. */
function parsePlatformText(text: string, file: string, stage: GraphStage): Platform {
  try {
    return parsePlatform(text);
  } catch (error) {
    if (!(error instanceof StagecraftError)) throw error;
    const range = stage.stage.from.range;
    throw new StagecraftError('DOCKERFILE_INSTRUCTION', `${file}:${range.start.line}: ${error.message}`, { hint: error.hint, location: { file, range } });
  }
}

function withLocation(error: unknown, file: string, range: SourceRange): unknown {
  if (error instanceof StagecraftError) return error.withLocation({ file, range });
  if (error instanceof FlagError || error instanceof PortError || error instanceof DispatchError) {
    return new StagecraftError('DOCKERFILE_INSTRUCTION', `${file}:${range.start.line}: ${error.message}`, {
      hint: error instanceof FlagError || error instanceof DispatchError ? error.hint : undefined,
      location: { file, range },
    });
  }
  return error;
}

/**
 * What is left of DOCKERFILE_LIMITS for the instruction being converted (`instruction`: characters its
 * expansions may still produce) and for the whole conversion (`output`: expanded words, step names,
 * history lines and RUN environments). Everything the conversion keeps or hashes is charged here
 * before it is kept, so no Dockerfile makes the conversion use more than a bounded amount of memory.
 */
interface Budget {
  instruction: number;
  output: number;
}

class DispatchError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

interface DispatchContext {
  readonly file: string;
  readonly lex: ShellLex;
  /** For progress names: quotes kept, unset variables left as written (BuildKit's display rule). */
  readonly displayLex: ShellLex;
  readonly builder: PlanBuilder;
  readonly state: StageState;
  readonly stage: GraphStage;
  readonly graph: StageGraph;
  readonly states: ReadonlyMap<number, StageState>;
  readonly platform: Platform;
  readonly buildArgs: ReadonlyMap<string, string>;
  readonly globalArgs: ReadonlyMap<string, string>;
  readonly proxyEnv: readonly string[];
  readonly ignoreCache: boolean;
  readonly contextVertex: (include: readonly string[]) => VertexId;
  readonly scratch: () => VertexId;
  readonly imageVertex: (ref: string) => VertexId;
  /** A named context's vertex reading `include` (when it is a directory), undefined when `name` is no named context. */
  readonly namedVertex: (name: string, include: readonly string[]) => VertexId | undefined;
  readonly epoch: number | undefined;
  readonly budget: Budget;
  /** The op fields every RUN gets from the build's flags (only those that were given). */
  readonly exec: ExecSettings;
}

function execSettings(exec: ExecSettings | undefined): ExecSettings {
  return {
    ...(exec?.extraHosts !== undefined && exec.extraHosts.length > 0 ? { extraHosts: exec.extraHosts.map((h) => ({ host: h.host, ip: h.ip })) } : {}),
    ...(exec?.shmSize !== undefined ? { shmSize: exec.shmSize } : {}),
    ...(exec?.ulimits !== undefined && exec.ulimits.length > 0 ? { ulimits: exec.ulimits.map((u) => ({ name: u.name, soft: u.soft, hard: u.hard })) } : {}),
    ...(exec?.cgroupParent !== undefined && exec.cgroupParent !== '' ? { cgroupParent: exec.cgroupParent } : {}),
    ...(exec?.resources !== undefined && Object.values(exec.resources).some((v) => v !== undefined) ? { resources: { ...exec.resources } } : {}),
  };
}

/** Charges `size` characters of kept output (history, names, RUN environments) to the conversion's budget. */
function chargeOutput(ctx: DispatchContext, size: number, what: string): void {
  ctx.budget.output -= size;
  if (ctx.budget.output < 0) {
    throw new DispatchError(`the Dockerfile produces more than ${formatSize(DOCKERFILE_LIMITS.outputChars, 'characters')} of expanded values, step names, ` +
      `history lines and RUN environments (the limit was passed by ${what})`,
      'Large or many ARG/ENV values are repeated in every step\'s environment and history: keep large data in files of the build context, not in variables.');
  }
}

/** The room expansion has left: the instruction's and the conversion's budget, whichever is smaller. */
function expansionRoom(ctx: DispatchContext): number {
  return Math.max(0, Math.min(ctx.budget.instruction, ctx.budget.output));
}

function chargeExpansion(ctx: DispatchContext, size: number): void {
  ctx.budget.instruction -= size;
  chargeOutput(ctx, size, 'expanded values');
}

/** The environment (image Env plus ARG values) after ENV or ARG must stay under DOCKERFILE_LIMITS.envChars. */
function checkEnvSize(env: readonly string[]): void {
  let size = 0;
  for (const entry of env) size += entry.length + 1;
  if (size > DOCKERFILE_LIMITS.envChars) {
    throw new DispatchError(`the stage's environment (ENV and ARG values) grows to ${size} characters, more than the limit of ${formatSize(DOCKERFILE_LIMITS.envChars, 'characters')}`,
      'Every RUN step gets the whole environment, and Linux refuses to start a program with more than 2 MiB of arguments and environment: keep large data in files, not in ARG/ENV.');
  }
}

/** `KEY=VALUE` lists → maps (the last entry of a key wins), made once per list: env arrays are never mutated in place. */
const envMaps = new WeakMap<readonly string[], ReadonlyMap<string, string>>();

function lookup(state: StageState): (name: string) => string | undefined {
  const env = state.env;
  let map = envMaps.get(env);
  if (map === undefined) {
    const built = new Map<string, string>();
    for (const entry of env) built.set(envKey(entry), envValue(entry));
    envMaps.set(env, built);
    map = built;
  }
  const found = map;
  return (name) => found.get(name);
}

function expand(ctx: DispatchContext, word: string): string {
  const result = ctx.lex.processWord(word, lookup(ctx.state), expansionRoom(ctx));
  chargeExpansion(ctx, result.length);
  return result;
}

function history(ctx: DispatchContext, createdBy: string, withLayer: boolean, buildkitSuffix = false): void {
  chargeOutput(ctx, createdBy.length, 'a history line');
  ctx.state.image.history.push({
    created_by: buildkitSuffix ? `${createdBy} # buildkit` : createdBy,
    comment: HISTORY_COMMENT,
    ...(withLayer ? {} : { empty_layer: true }),
    ...(ctx.epoch !== undefined ? { created: new Date(ctx.epoch * 1000).toISOString().replace('.000Z', 'Z') } : {}),
  });
}

function stepName(ctx: DispatchContext, text: string): string {
  const state = ctx.state;
  let display = text;
  try {
    // Names are for people: a name that expands to more than 64 Ki characters beyond its text is shown as written.
    display = ctx.displayLex.processWord(text, lookup(state), text.length + 65_536);
  } catch {
    // show the text as written
  }
  chargeOutput(ctx, display.length, 'a step name');
  const space = display.indexOf(' ');
  display = space === -1 ? display.toUpperCase() : display.slice(0, space).toUpperCase() + display.slice(space);
  if (state.commandTotal === 0) return display;
  state.commandIndex++;
  const width = String(state.commandTotal).length;
  const prefix = ctx.graph.stages.length > 1 || ctx.stage.name !== undefined ? `${ctx.stage.displayName} ` : '';
  return `[${prefix}${String(state.commandIndex).padStart(width)}/${state.commandTotal}] ${display}`;
}

function workdir(state: StageState): string {
  return state.image.config.WorkingDir === undefined || state.image.config.WorkingDir === '' ? '/' : state.image.config.WorkingDir;
}

/** BuildKit's pathRelativeToWorkingDir: absolute as is; relative joined to WORKDIR; trailing slash kept. */
function destPath(state: StageState, p: string): string {
  const keepSlash = p.endsWith('/') || p === '.' || p === '' || p.endsWith('/.');
  const joined = posix.isAbsolute(p) ? posix.normalize(p) : posix.join(workdir(state), p === '' ? '.' : p);
  const clean = joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
  return keepSlash && clean !== '/' ? `${clean}/` : clean;
}

/** Go's `path.Clean(path.Join("/", p))`: absolute, no `.`/`..`, no duplicate or trailing slash. */
function cleanPath(p: string): string {
  const joined = posix.join('/', p);
  return joined.length > 1 && joined.endsWith('/') ? joined.slice(0, -1) : joined;
}

function dispatch(ctx: DispatchContext, command: Command): void {
  const { state } = ctx;
  switch (command.kind) {
    case 'arg': {
      const texts: string[] = [];
      for (const arg of command.args) {
        const key = expand(ctx, arg.key);
        const override = ctx.buildArgs.get(key);
        let value: string | undefined;
        let inherited = false;
        if (override !== undefined) value = override;
        else if (arg.value !== undefined) value = expand(ctx, arg.value);
        else {
          value = ctx.globalArgs.get(key);
          inherited = true;
        }
        if (value !== undefined) {
          state.env = addEnv(state.env, key, value);
          checkEnvSize(state.env);
        }
        state.buildArgs = [...state.buildArgs.filter((a) => a.key !== key), { key, value }];
        // A value inherited from the global scope is not written into the ARG's history line
        // (as dockerd 20.10's BuildKit records it).
        texts.push(value === undefined || inherited ? key : `${key}=${value}`);
      }
      history(ctx, `ARG ${texts.join(' ')}`, false);
      return;
    }
    case 'env': {
      const parts: string[] = [];
      // Every pair is expanded against the environment from before the instruction (as BuildKit
      // does): `ENV A=x B=$A` gives B the earlier A.
      const pairs = command.pairs.map((pair) => ({ key: expand(ctx, pair.key), value: expand(ctx, pair.value) }));
      for (const { key, value } of pairs) {
        state.env = addEnv(state.env, key, value);
        checkEnvSize(state.env);
        state.image.config.Env = addEnv(state.image.config.Env ?? [], key, value);
        parts.push(`${key}=${value}`);
      }
      history(ctx, `ENV ${parts.join(' ')}`, false);
      return;
    }
    case 'label': {
      const labels = { ...(state.image.config.Labels ?? {}) };
      const parts: string[] = [];
      for (const pair of command.pairs) {
        const key = expand(ctx, pair.key);
        const value = expand(ctx, pair.value);
        setOwn(labels, key, value);
        parts.push(`${key}=${value}`);
      }
      state.image.config.Labels = labels;
      history(ctx, `LABEL ${parts.join(' ')}`, false);
      return;
    }
    case 'maintainer':
      state.image.author = command.maintainer;
      history(ctx, `MAINTAINER ${command.maintainer}`, false);
      return;
    case 'workdir': {
      // BuildKit's NormalizeWorkdir for Linux: an absolute path is kept as written (`/tmp/` stays
      // `/tmp/` in the config, history and RUN's cwd), a relative one is joined to the current
      // directory (and so cleaned), an empty one keeps the current directory. Only the mkdir cleans
      // (BuildKit's file op joins its path to "/").
      const requested = expand(ctx, command.path);
      const current = workdir(state);
      const parent = posix.isAbsolute(current) ? current : cleanPath(current);
      const wd = requested === '' ? parent : posix.isAbsolute(requested) ? requested : cleanPath(posix.join(parent, requested));
      state.image.config.WorkingDir = wd;
      const withLayer = wd !== '/';
      if (withLayer) {
        const user = state.image.config.User;
        const action: FileAction = {
          action: 'mkdir', path: cleanPath(wd), mode: 0o755, parents: true,
          ...(user !== undefined && user !== '' ? { chown: chownSpec(user) } : {}),
          ...(ctx.epoch !== undefined ? { mtime: ctx.epoch } : {}),
        };
        state.root = ctx.builder.add({ type: 'file', actions: [action] }, [state.root], meta(ctx, command.original, command.range));
      }
      history(ctx, `WORKDIR ${wd}`, withLayer);
      return;
    }
    case 'user': {
      const user = expand(ctx, command.user);
      state.image.config.User = user;
      history(ctx, `USER ${user}`, false);
      return;
    }
    case 'volume': {
      const volumes = command.volumes.map((v) => expand(ctx, v));
      if (volumes.some((v) => v === '')) throw new DispatchError('VOLUME specified can not be an empty string');
      const map = { ...(state.image.config.Volumes ?? {}) };
      for (const v of volumes) setOwn(map, v, {});
      state.image.config.Volumes = map;
      history(ctx, `VOLUME ${goList(volumes)}`, false);
      return;
    }
    case 'expose': {
      const words = command.ports.flatMap((p) => {
        const split = ctx.lex.processWords(p, lookup(state), expansionRoom(ctx));
        chargeExpansion(ctx, split.reduce((sum, w) => sum + w.length + 1, 0));
        return split;
      });
      const ports = parsePorts(words);
      const map = { ...(state.image.config.ExposedPorts ?? {}) };
      for (const p of ports) setOwn(map, p, {});
      state.image.config.ExposedPorts = map;
      history(ctx, `EXPOSE ${goList(ports)}`, false);
      return;
    }
    case 'stopsignal': {
      const signal = expand(ctx, command.signal);
      validateSignal(signal);
      state.image.config.StopSignal = signal;
      history(ctx, `STOPSIGNAL ${signal}`, false);
      return;
    }
    case 'shell':
      state.image.config.Shell = [...command.shell];
      history(ctx, `SHELL ${goList(command.shell)}`, false);
      return;
    case 'onbuild':
      state.image.config.OnBuild = [...(state.image.config.OnBuild ?? []), command.expression];
      return;
    case 'cmd': {
      const args = command.prependShell ? withShell(state, command.cmdLine) : [...command.cmdLine];
      state.image.config.Cmd = args;
      state.image.config.ArgsEscaped = true;
      state.cmdSet = true;
      history(ctx, `CMD ${goQuoteList(args)}`, false);
      return;
    }
    case 'entrypoint': {
      const args = command.prependShell ? withShell(state, command.cmdLine) : [...command.cmdLine];
      state.image.config.Entrypoint = args;
      if (!state.cmdSet) state.image.config.Cmd = undefined;
      history(ctx, `ENTRYPOINT ${goQuoteList(args)}`, false);
      return;
    }
    case 'healthcheck': {
      const h = command.health;
      state.image.config.Healthcheck = {
        Test: [...h.test],
        // Zero values are omitted, as Go's omitempty does in the image config.
        ...(h.interval !== undefined && h.interval !== 0 ? { Interval: h.interval } : {}),
        ...(h.timeout !== undefined && h.timeout !== 0 ? { Timeout: h.timeout } : {}),
        ...(h.startPeriod !== undefined && h.startPeriod !== 0 ? { StartPeriod: h.startPeriod } : {}),
        ...(h.startInterval !== undefined && h.startInterval !== 0 ? { StartInterval: h.startInterval } : {}),
        ...(h.retries !== undefined && h.retries !== 0 ? { Retries: h.retries } : {}),
      };
      history(ctx, healthcheckHistory(state.image.config.Healthcheck), false);
      return;
    }
    case 'run':
      dispatchRun(ctx, command);
      return;
    case 'copy':
    case 'add':
      dispatchCopy(ctx, command);
      return;
  }
}

const SIGNALS = new Set(['HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'IOT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV', 'USR2', 'PIPE', 'ALRM', 'TERM', 'STKFLT', 'CHLD', 'CLD', 'CONT', 'STOP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'XCPU', 'XFSZ', 'VTALRM', 'PROF', 'WINCH', 'IO', 'POLL', 'PWR', 'SYS', 'RTMIN', 'RTMAX']);

function validateSignal(signal: string): void {
  if (/^\d+$/.test(signal)) {
    if (Number.parseInt(signal, 10) === 0) throw new DispatchError(`Invalid signal: ${signal}`);
    return;
  }
  const name = signal.toUpperCase().replace(/^SIG/, '');
  if (SIGNALS.has(name) || /^RTM(IN|AX)[+-]\d+$/.test(name)) return;
  throw new DispatchError(`Invalid signal: ${signal}`, 'use a signal name such as SIGTERM or a number');
}

function withShell(state: StageState, args: readonly string[]): string[] {
  const shell = state.image.config.Shell !== undefined && state.image.config.Shell.length > 0 ? state.image.config.Shell : DEFAULT_SHELL;
  return [...shell, args.join(' ')];
}

function chownSpec(value: string): { user: string; group?: string } {
  const colon = value.indexOf(':');
  return colon === -1 ? { user: value } : { user: value.slice(0, colon), group: value.slice(colon + 1) };
}

function meta(ctx: DispatchContext, original: string, range: SourceRange): { name: string; stage: string; location: { file: string; range: SourceRange }; ignoreCache?: boolean } {
  return {
    name: stepName(ctx, original.trim()),
    stage: ctx.stage.displayName,
    location: { file: ctx.file, range },
    ...(ctx.ignoreCache ? { ignoreCache: true } : {}),
  };
}

/**
 * The vertex a `--from` / `from=` reference reads: a converted stage, a named context (reading
 * `include` when it is a directory) or an image.
 */
function sourceVertex(ctx: DispatchContext, ref: string, what: string, include: readonly string[]): VertexId {
  const source = /^\d+$/.test(ref)
    ? { kind: 'stage' as const, index: Number.parseInt(ref, 10) }
    : (() => {
        const named = ctx.graph.stages.find((s) => s.name === ref.toLowerCase());
        return named !== undefined ? { kind: 'stage' as const, index: named.index } : { kind: 'image' as const };
      })();
  if (source.kind === 'stage') {
    const state = ctx.states.get(source.index);
    if (state === undefined) {
      throw new DispatchError(`cannot ${what} from stage "${ref}", it needs to be defined before current stage "${ctx.stage.displayName}"`,
        'a stage can only use stages that come before it in the Dockerfile');
    }
    return state.root;
  }
  const key = contextKey(ref);
  return (key !== undefined ? ctx.namedVertex(key, include) : undefined) ?? ctx.imageVertex(ref);
}

function dispatchRun(ctx: DispatchContext, command: RunInstruction): void {
  const { state } = ctx;
  let args = [...command.cmdLine];
  const inlineFiles: { path: string; data: string; mode: number }[] = [];
  if (command.files.length > 0) {
    if (args.length !== 1 || !command.prependShell) throw new DispatchError(`parsing produced an invalid run command: ${goList(args)}`);
    const first = command.files[0];
    const marker = /^\d*<<-?(["']?)([^"'<]+)\1$/.exec(args[0] ?? '');
    if (first !== undefined && marker !== null && command.files.length === 1) {
      if (first.data.startsWith('#!')) {
        inlineFiles.push({ path: `/dev/pipes/${first.name}`, data: first.data, mode: 0o755 });
        args = [`/dev/pipes/${first.name}`];
      } else {
        args = [first.data];
      }
    } else {
      args = [command.files.reduce((text, f) => `${text}\n${f.data}${f.name}`, args[0] ?? '')];
    }
  }
  if (command.prependShell) args = withShell(state, args);

  const mounts: ExecMount[] = [];
  const inputs: VertexId[] = [state.root];
  const inputIndex = (id: VertexId): number => {
    const existing = inputs.indexOf(id);
    if (existing !== -1) return existing;
    inputs.push(id);
    return inputs.length - 1;
  };
  let sshCount = 0;
  for (const spec of command.mountSpecs) {
    const mount = parseMount(spec, (word) => expand(ctx, word));
    const resolveTarget = (t: string | undefined): string => {
      const target = posix.isAbsolute(posix.normalize(t ?? '.')) ? posix.normalize(t ?? '') : posix.join('/', workdir(state), t ?? '');
      if (target === '/') throw new DispatchError(`invalid mount target "${target}"`, 'mount targets must be a directory other than /');
      return target.length > 1 && target.endsWith('/') ? target.slice(0, -1) : target;
    };
    switch (mount.type) {
      case 'bind': {
        const source = posix.join('/', mount.source ?? '');
        const input = mount.from !== undefined && mount.from !== '' ? sourceVertex(ctx, mount.from, 'mount', [source]) : ctx.contextVertex([source]);
        mounts.push({ type: 'bind', target: resolveTarget(mount.target), input: inputIndex(input), source, readonly: mount.readonly });
        break;
      }
      case 'cache': {
        const source = posix.join('/', mount.source ?? '');
        const from = mount.from !== undefined && mount.from !== '' ? inputIndex(sourceVertex(ctx, mount.from, 'mount', [source])) : undefined;
        mounts.push({
          type: 'cache', target: resolveTarget(mount.target), id: mount.id ?? posix.normalize(mount.target ?? ''), sharing: mount.sharing ?? 'shared',
          input: from, source, readonly: mount.readonly, uid: mount.uid ?? 0, gid: mount.gid ?? 0, mode: mount.mode ?? 0o755,
        });
        break;
      }
      case 'tmpfs':
        mounts.push({ type: 'tmpfs', target: resolveTarget(mount.target), ...(mount.size !== undefined ? { size: mount.size } : {}) });
        break;
      case 'secret': {
        const id = secretMountId(mount);
        if (id === undefined) throw new DispatchError('one of source, target required', 'write --mount=type=secret,id=<id>');
        const target = mount.target !== undefined && mount.target !== '' ? mount.target : mount.env === undefined ? `/run/secrets/${posix.basename(id)}` : undefined;
        mounts.push({
          type: 'secret', id, ...(target !== undefined ? { target } : {}), ...(mount.env !== undefined ? { env: mount.env } : {}),
          required: mount.required, uid: mount.uid ?? 0, gid: mount.gid ?? 0, mode: mount.mode ?? 0o400,
        });
        if (!state.secrets.has(id) || mount.required) state.secrets.set(id, mount.required);
        break;
      }
      case 'ssh': {
        const id = sshMountId(mount);
        const target = mount.target ?? `/run/buildkit/ssh_agent.${sshCount}`;
        sshCount++;
        mounts.push({ type: 'ssh', id, target, required: mount.required, uid: mount.uid ?? 0, gid: mount.gid ?? 0, mode: mount.mode ?? 0o600 });
        state.sshIds.add(id);
        break;
      }
    }
  }

  const user = state.image.config.User;
  // As BuildKit's LLB does: with an ssh mount, SSH_AUTH_SOCK (unless set) names the first one's socket.
  const firstSsh = mounts.find((m) => m.type === 'ssh');
  const execEnv = firstSsh !== undefined && firstSsh.type === 'ssh' && !state.env.some((e) => envKey(e) === 'SSH_AUTH_SOCK') ? [...state.env, `SSH_AUTH_SOCK=${firstSsh.target}`] : [...state.env];
  // The environment is part of the step's definition, serialized and hashed for its cache key.
  chargeOutput(ctx, execEnv.reduce((sum, e) => sum + e.length + 1, 0), 'the RUN environment');
  state.root = ctx.builder.add(
    {
      type: 'exec',
      args,
      env: execEnv,
      cwd: workdir(state),
      user: user === undefined || user === '' ? '0' : user,
      network: command.network,
      security: command.security,
      mounts,
      ...(ctx.proxyEnv.length > 0 ? { proxyEnv: [...ctx.proxyEnv] } : {}),
      ...(inlineFiles.length > 0 ? { inlineFiles } : {}),
      ...ctx.exec,
    },
    inputs,
    meta(ctx, command.original, command.range),
  );
  history(ctx, `RUN ${runCommandString(args, state)}`, true, true);
}

/** BuildKit's history text for RUN: `|N K=V … ` before the command when the stage has ARGs. */
function runCommandString(args: readonly string[], state: StageState): string {
  const get = lookup(state);
  const pairs = state.buildArgs.map((a) => `${a.key}=${get(a.key) ?? a.value ?? ''}`);
  const prefix = pairs.length > 0 ? [`|${pairs.length}`, ...pairs] : [];
  return [...prefix, ...args].join(' ');
}

function isUrl(src: string): boolean {
  return src.startsWith('http://') || src.startsWith('https://');
}

function isGit(src: string): boolean {
  return src.startsWith('git@') || src.startsWith('git://') || /^https?:\/\/.*\.git(#.*)?$/.test(src) || /^github\.com\//.test(src);
}

function validateChmod(value: string): void {
  if (/^\d+$/.test(value)) {
    const n = Number.parseInt(value, 8);
    if (!/^[0-7]+$/.test(value) || n > 0o7777) {
      throw new DispatchError(`invalid chmod parameter: '${value}'. it should be octal string and between 0 and 07777`, 'use an octal mode such as 0755');
    }
    return;
  }
  if (!/^([ugoa]*[-+=][rwxXst]*)(,[ugoa]*[-+=][rwxXst]*)*$/.test(value)) {
    throw new DispatchError(`invalid chmod parameter: '${value}'`, 'use an octal mode such as 0755 or a symbolic one such as u+x');
  }
}

function dispatchCopy(ctx: DispatchContext, command: CopyInstruction | AddInstruction): void {
  const { state } = ctx;
  const isAdd = command.kind === 'add';
  const name = isAdd ? 'ADD' : 'COPY';
  const sources = command.sources.map((s) => expand(ctx, s));
  const rawDest = expand(ctx, command.dest);
  const dest = destPath(state, rawDest);
  const chown = command.chown !== undefined ? expand(ctx, command.chown) : '';
  const chmod = command.chmod !== undefined ? expand(ctx, command.chmod) : '';
  const excludes = command.excludes.map((e) => expand(ctx, e));
  if (chmod !== '') validateChmod(chmod);
  const checksum = isAdd && command.checksum !== undefined ? expand(ctx, command.checksum) : '';
  if (checksum !== '') {
    if (sources.length !== 1) throw new DispatchError("checksum can't be specified for multiple sources");
    if (!isUrl(sources[0] ?? '')) throw new DispatchError('checksum requires HTTP(S) or Git sources');
  }
  const parents = command.kind === 'copy' && command.parents;
  const fromRef = command.kind === 'copy' ? command.from : undefined;
  const link = command.link && chmod === '';

  let message = name;
  if (parents) message += ' --parents';
  if (chown !== '') message += ` --chown=${chown}`;
  if (chmod !== '') message += ` --chmod=${chmod}`;

  const inputs: VertexId[] = [];
  const inputIndex = (id: VertexId): number => {
    const existing = inputs.indexOf(id);
    if (existing !== -1) return existing + 1;
    inputs.push(id);
    return inputs.length;
  };
  const common = {
    dest,
    ...(chown !== '' ? { chown: chownSpec(chown) } : {}),
    ...(chmod !== '' ? { chmod } : {}),
    excludes,
    destIsDir: rawDest.endsWith('/') || rawDest === '.' || rawDest === '' || sources.length + command.contents.length > 1,
    link,
    ...(ctx.epoch !== undefined ? { mtime: ctx.epoch } : {}),
  };
  const actions: FileAction[] = [];
  const fromVertex = fromRef !== undefined ? sourceVertex(ctx, fromRef, 'copy', sources.filter((s) => !isUrl(s))) : undefined;
  // One context vertex for all the sources (made once: a COPY may name thousands of sources).
  let contextInput: VertexId | undefined;
  for (const src of sources) {
    message += ` ${src}`;
    if (isGit(src) && isAdd) {
      throw new DispatchError(`ADD of a git repository (${src}) is not supported by stagecraft yet`, 'clone the repository in a RUN step, or COPY it from the build context');
    }
    if (isUrl(src)) {
      if (!isAdd) throw new DispatchError("source can't be a URL for COPY", 'use ADD for URLs');
      let filename = '__unnamed__';
      try {
        const base = posix.basename(new URL(src).pathname);
        if (base !== '' && base !== '.' && base !== '/') filename = base;
      } catch {
        // keep the default name, as BuildKit does for unparsable URLs
      }
      const http = ctx.builder.add({ type: 'http', url: src, ...(checksum !== '' ? { checksum } : {}), filename }, [], { name: `[internal] download ${src}` });
      actions.push({ action: 'copy', input: inputIndex(http), sources: [`/${filename}`], ...common, parents: false, unpack: command.kind === 'add' && command.unpack === true });
      continue;
    }
    contextInput ??= fromVertex ?? ctx.contextVertex(sources.filter((s) => !isUrl(s)));
    const input = contextInput;
    actions.push({
      action: 'copy', input: inputIndex(input), sources: [src], ...common, parents,
      unpack: command.kind === 'add' ? (command.unpack ?? true) : false,
    });
  }
  for (const content of command.contents) {
    message += ` <<${content.name}`;
    const data = content.expand ? expand(ctx, content.data) : content.data;
    const file = ctx.builder.add({ type: 'file', actions: [{ action: 'mkfile', path: `/${content.name}`, data, mode: 0o644 }] }, [ctx.scratch()], { name: '[internal] preparing inline document' });
    actions.push({ action: 'copy', input: inputIndex(file), sources: [`/${content.name}`], ...common, parents: false, unpack: false });
  }
  message += ` ${rawDest}`;

  const stepMeta = meta(ctx, command.original, command.range);
  if (link) {
    const layer = ctx.builder.add({ type: 'file', actions }, [ctx.scratch(), ...inputs], stepMeta);
    state.root = ctx.builder.add({ type: 'merge' }, [state.root, layer], { ...stepMeta, name: stepMeta.name.replace(/\] /, '] LINK ') });
  } else {
    state.root = ctx.builder.add({ type: 'file', actions }, [state.root, ...inputs], stepMeta);
  }
  history(ctx, message, true, true);
}

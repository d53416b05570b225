/**
 * The exec op: runs a RUN step in runc on a writable snapshot of its rootfs input, with its
 * `--mount`s, and turns the changes into a layer. Secrets are read from the build's secret provider
 * at run time only: they are in no key, layer or event.
 */
import { StagecraftError } from '../core/index.js';
import type { ExecMount as RuntimeMount, Executor, NetworkMode } from '../executor/index.js';
import type { ExecOp } from '../plan/index.js';
import type { ExecuteContext } from '../solver/index.js';
import { Disposer } from '../util/disposer.js';
import type { SourceRange } from '../core/index.js';
import type { ImmutableSnapshot, MutableSnapshot, Snapshotter } from '../snapshot/index.js';
import type { StepLayer } from '../cache/index.js';
import type { LayerStore } from './layers.js';
import type { FsResult } from './result.js';
import type { CacheMountPool } from './cache-mounts.js';
import { resolveBindSource } from './bind-source.js';
import { copyPath } from './file/copy.js';
import { Limiter } from '../util/limiter.js';


/** A required secret or ssh agent (`RUN --mount=type=secret|ssh,required=true`) the build was not given. */
export function missingMountError(type: 'secret' | 'ssh', id: string): StagecraftError {
  return type === 'secret'
    ? new StagecraftError('USAGE', `secret ${id} is required but was not given`, { hint: `pass it with --secret id=${id},src=FILE or --secret id=${id},env=VAR` })
    : new StagecraftError('USAGE', `ssh agent ${id} is required but was not given`, { hint: `pass it with --ssh ${id}=/path/to/agent.sock (or --ssh default with SSH_AUTH_SOCK set)` });
}

export interface SecretProvider {
  /** The secret's bytes, or undefined when the build was given no such secret. */
  get(id: string): Promise<Buffer | undefined>;
}

export interface ExecDeps {
  readonly executor: Executor;
  readonly snapshotter: Snapshotter;
  readonly layers: LayerStore;
  readonly secrets: SecretProvider;
  /** ssh id → agent socket on the host. */
  readonly ssh: ReadonlyMap<string, string>;
  readonly cacheMounts: CacheMountPool;
  readonly hostname: string;
  /** `--network` of the build: the default for `RUN --network=default`. */
  readonly defaultNetwork: NetworkMode;
  /** Keeps the state of a failed step for `stagecraft debug`; absent: nothing is kept. */
  readonly failedSteps?: FailedStepKeeper | undefined;
}

/** The vertex a RUN op runs for, as the record of a failed step names it. */
export interface ExecStep {
  readonly name: string;
  readonly stage?: string | undefined;
  readonly location?: { readonly file: string; readonly range: SourceRange } | undefined;
}

/** What a failed RUN step leaves for `stagecraft debug`. No secret value is in it. */
export interface FailedExec {
  readonly step: ExecStep;
  readonly op: ExecOp;
  /** The network the step ran with (`default` resolved to the build's). */
  readonly network: NetworkMode;
  readonly hostname: string;
  readonly exitCode: number;
  readonly signal?: string | undefined;
  /** The committed snapshot of each bind-mounted stage by index in `op.mounts` (null: an empty stage); context binds are absent. */
  readonly bindSnapshots: ReadonlyMap<number, string | null>;
}

/** One RUN step's output being recorded, in case it fails. */
export interface StepRecording {
  log(chunk: Buffer): void;
  /**
   * The step failed: takes over `rootfs` (its writable snapshot, unmounted, not committed) and keeps
   * it with the record and the log. Resolves with the id to debug it by, or undefined when nothing
   * was kept (the reason is the keeper's to report). Never rejects.
   */
  keep(failed: FailedExec, rootfs: MutableSnapshot, signal: AbortSignal): Promise<string | undefined>;
  /** Drops the recording (a no-op after `keep`). */
  discard(): Promise<void>;
}

export interface FailedStepKeeper {
  start(): Promise<StepRecording>;
}

/** A RUN step exited non-zero. */
export class ExecFailure extends Error {
  /** `debugId`: the id its state was kept under for `stagecraft debug`, if it was. */
  constructor(readonly args: readonly string[], readonly exitCode: number, readonly signalName?: string, readonly debugId?: string) {
    super(`process "${args.join(' ')}" did not complete successfully: ${signalName !== undefined ? `killed by signal ${signalName}` : `exit code: ${exitCode}`}`);
  }
}

export async function runExec(op: ExecOp, inputs: readonly FsResult[], deps: ExecDeps, context: ExecuteContext, step: ExecStep = { name: 'RUN' }): Promise<FsResult> {
  const { signal } = context;
  const rootInput = inputs[0];
  if (rootInput === undefined || rootInput.kind !== 'layers') throw new Error('exec: input 0 must be a layer stack');
  const parent = await deps.layers.materialize(rootInput.layers, signal);
  const stack = new Disposer();
  const recording = await deps.failedSteps?.start();
  if (recording !== undefined) stack.defer(() => recording.discard());
  try {
    return await runIn(stack, op, inputs, deps, context, rootInput.layers, parent, { step, recording });
  } finally {
    await stack.dispose();
  }
}

async function runIn(stack: Disposer, op: ExecOp, inputs: readonly FsResult[], deps: ExecDeps, context: ExecuteContext, rootLayers: readonly StepLayer[], parent: ImmutableSnapshot | null, failure: { step: ExecStep; recording: StepRecording | undefined }): Promise<FsResult> {
  const { signal } = context;
  const mutable = stack.use(await deps.snapshotter.prepare(parent, `exec-${Date.now()}`, signal));
  const rootfs = stack.use(await mutable.mount(undefined, signal));

  const mounts: RuntimeMount[] = [];
  const secretEnv: Record<string, string> = {};
  for (const mount of op.mounts) {
    switch (mount.type) {
      case 'bind': {
        const input = inputs[mount.input];
        if (input === undefined) throw new Error(`exec: bind input ${mount.input} missing`);
        mounts.push({ type: 'bind', source: await bindSource(stack, input, mount, op.security === 'insecure', deps, signal), target: mount.target, readonly: mount.readonly });
        break;
      }
      case 'cache': {
        const lease = stack.use(await deps.cacheMounts.acquire({ id: mount.id, sharing: mount.sharing, uid: mount.uid, gid: mount.gid, mode: mount.mode }, signal));
        mounts.push({ type: 'bind', source: lease.path, target: mount.target, readonly: mount.readonly });
        break;
      }
      case 'tmpfs':
        mounts.push({ type: 'tmpfs', target: mount.target, ...(mount.size !== undefined ? { size: mount.size } : {}) });
        break;
      case 'secret': {
        const data = await deps.secrets.get(mount.id);
        if (data === undefined) {
          if (mount.required) {
            throw missingMountError('secret', mount.id);
          }
          break;
        }
        if (mount.env !== undefined) secretEnv[mount.env] = data.toString('utf8');
        if (mount.target !== undefined) mounts.push({ type: 'secret', target: mount.target, data, uid: mount.uid, gid: mount.gid, mode: mount.mode });
        break;
      }
      case 'ssh': {
        const socket = deps.ssh.get(mount.id);
        if (socket === undefined) {
          if (mount.required) throw missingMountError('ssh', mount.id);
          break;
        }
        mounts.push({ type: 'ssh', source: socket, target: mount.target, uid: mount.uid, gid: mount.gid, mode: mount.mode });
        break;
      }
    }
  }
  for (const file of op.inlineFiles ?? []) {
    mounts.push({ type: 'file', target: file.path, data: Buffer.from(file.data), mode: file.mode });
  }

  const network = op.network === 'default' ? deps.defaultNetwork : op.network;
  const result = await deps.executor.run(
    {
      rootfs: rootfs.path,
      args: [...op.args],
      env: [...op.env, ...(op.proxyEnv ?? [])],
      secretEnv,
      cwd: op.cwd,
      user: op.user,
      hostname: deps.hostname,
      network,
      mounts,
      securityInsecure: op.security === 'insecure',
      extraHosts: op.extraHosts,
      shmSize: op.shmSize,
      ulimits: op.ulimits,
      cgroupParent: op.cgroupParent,
      resources: op.resources,
    },
    {
      stdout: (chunk: Buffer) => {
        failure.recording?.log(chunk);
        context.log('stdout', chunk.toString('utf8'));
      },
      stderr: (chunk: Buffer) => {
        failure.recording?.log(chunk);
        context.log('stderr', chunk.toString('utf8'));
      },
    },
    signal,
  );
  if (result.exitCode !== 0) {
    let debugId: string | undefined;
    if (failure.recording !== undefined) {
      const bindSnapshots = new Map<number, string | null>();
      try {
        await rootfs[Symbol.asyncDispose]();
        for (const [index, mount] of op.mounts.entries()) {
          const input = mount.type === 'bind' ? inputs[mount.input] : undefined;
          if (input?.kind === 'layers') bindSnapshots.set(index, (await deps.layers.materialize(input.layers, signal))?.id ?? null);
        }
      } catch {
        // Keeping is best effort: the step's own failure is what the build reports.
      }
      debugId = await failure.recording.keep({ step: failure.step, op, network, hostname: deps.hostname, exitCode: result.exitCode, signal: result.signal, bindSnapshots }, mutable, signal);
    }
    throw new ExecFailure(op.args, result.exitCode, result.signal, debugId);
  }
  await rootfs[Symbol.asyncDispose]();
  const layer = await deps.layers.commit(mutable, signal);
  return { kind: 'layers', layers: [...rootLayers, layer] };
}

/**
 * The host path for a bind mount (see bind-source.ts for how it stays inside its root). What the
 * step may write to is its own: a read-write bind (or any bind of an insecure step, which could
 * remount a read-only one) gets a throwaway copy, discarded after the step as BuildKit documents —
 * a writable snapshot of a stage, a copy of the context selection — so the step can change neither a
 * committed snapshot nor the user's files, which a context view shares inodes with. A read-only bind
 * of the context uses the view itself: nothing can write through a read-only mount without
 * CAP_SYS_ADMIN, which a sandboxed step does not have.
 */
async function bindSource(stack: Disposer, input: FsResult, mount: Extract<ExecOp['mounts'][number], { type: 'bind' }>, insecure: boolean, deps: ExecDeps, signal: AbortSignal): Promise<string> {
  const writable = !mount.readonly || insecure;
  if (input.kind === 'layers') {
    if (!writable) return resolveBindSource(stack.use(await deps.layers.view(input.layers, signal)).path, mount.source);
    const snapshot = await deps.layers.materialize(input.layers, signal);
    const scratch = stack.use(await deps.snapshotter.prepare(snapshot, 'bind-rw', signal));
    return resolveBindSource(stack.use(await scratch.mount(undefined, signal)).path, mount.source);
  }
  const source = await resolveBindSource(input.path, mount.source);
  if (!writable) return source;
  const scratch = stack.use(await deps.snapshotter.prepare(null, 'bind-rw-context', signal));
  const root = stack.use(await scratch.mount(undefined, signal)).path;
  await copyPath(
    { srcRoot: input.path, src: mount.source, destRoot: root, dest: `/${PRIVATE_COPY}` },
    // The context's files as a build sees them: owned by root, as BuildKit's file sync makes them.
    { owner: undefined, defaultOwner: { uid: 0, gid: 0 }, copyDirContents: true, followLinks: true, reservedNames: 'allow', limiter: new Limiter(8), signal },
  );
  return resolveBindSource(root, `/${PRIVATE_COPY}`);
}

/** Name of the copy of a read-write context bind source inside its scratch snapshot. */
const PRIVATE_COPY = 'source';

/**
 * Debugging a failed RUN step without re-running the build. During a build, `failedStepKeeper`
 * records each RUN step's output; when one fails, its writable rootfs is committed as a snapshot
 * (the step's upper dir over its parent chain) and kept with a record (debug/record.ts) and the log,
 * for the newest `debugKeep` failed builds. `debugSession` later rebuilds exactly that state — a
 * fresh writable snapshot over the kept one, so the kept state is never changed and serves any number
 * of sessions — and runs a command there through the same runc executor, with the same confinement
 * as the step (seccomp, capabilities, its own network namespace), the recorded env, user, working
 * directory, hostname and mounts. Secrets and ssh agents are mounted only when given again.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { STATE_ROOT_LOCK, StoreLocks } from '../cache/index.js';
import { StagecraftError } from '../core/index.js';
import type { Database } from '../db/index.js';
import type { DebugMount, DebugRecord, DebugStore } from '../debug/index.js';
import { createRuncExecutor, type ExecMount } from '../executor/index.js';
import { CacheMountPool, resolveBindSource, type FailedExec, type FailedStepKeeper } from '../ops/index.js';
import { openSnapshotter, type Snapshotter } from '../snapshot/index.js';
import { Disposer } from '../util/disposer.js';
import { PROCESS_OWNER } from '../util/owner.js';
import type { Entitlement } from './entitlements.js';
import { runcStateParent } from './upkeep.js';
import { debugLockName, openDebugStore } from './debug-store.js';

export interface FailedStepKeeperOptions {
  readonly store: DebugStore;
  readonly snapshotter: Snapshotter;
  readonly buildId: string;
  /** Failed builds kept (> 0). */
  readonly limit: number;
  readonly busy: (buildId: string) => boolean;
  readonly warn: (message: string) => void;
  readonly now?: (() => number) | undefined;
}

/** The record of a failed step, without any secret value or proxy variable. */
export function debugRecord(failed: FailedExec, buildId: string, snapshot: string, time: number): DebugRecord {
  const { op } = failed;
  const mounts: DebugMount[] = op.mounts.map((mount, index): DebugMount => {
    switch (mount.type) {
      case 'bind': {
        const kept = failed.bindSnapshots.get(index);
        return { type: 'bind', target: mount.target, source: mount.source, readonly: mount.readonly, from: failed.bindSnapshots.has(index) ? 'stage' : 'context', ...(typeof kept === 'string' ? { snapshot: kept } : {}) };
      }
      case 'cache':
        return { type: 'cache', target: mount.target, id: mount.id, sharing: mount.sharing, readonly: mount.readonly, uid: mount.uid, gid: mount.gid, mode: mount.mode };
      case 'tmpfs':
        return { type: 'tmpfs', target: mount.target, ...(mount.size !== undefined ? { size: mount.size } : {}) };
      case 'secret':
        return { type: 'secret', id: mount.id, ...(mount.target !== undefined ? { target: mount.target } : {}), ...(mount.env !== undefined ? { env: mount.env } : {}), required: mount.required, uid: mount.uid, gid: mount.gid, mode: mount.mode };
      case 'ssh':
        return { type: 'ssh', id: mount.id, target: mount.target, required: mount.required, uid: mount.uid, gid: mount.gid, mode: mount.mode };
    }
  });
  const location = failed.step.location;
  return {
    version: 1,
    buildId,
    time,
    ...(location !== undefined ? { dockerfile: { file: location.file, line: location.range.start.line } } : {}),
    step: failed.step.name,
    ...(failed.step.stage !== undefined ? { stage: failed.step.stage } : {}),
    snapshot,
    process: { args: [...op.args], env: [...op.env], cwd: op.cwd, user: op.user, hostname: failed.hostname, network: failed.network, security: op.security },
    settings: {
      ...(op.extraHosts !== undefined && op.extraHosts.length > 0 ? { extraHosts: op.extraHosts.map((h) => ({ host: h.host, ip: h.ip })) } : {}),
      ...(op.shmSize !== undefined ? { shmSize: op.shmSize } : {}),
      ...(op.ulimits !== undefined && op.ulimits.length > 0 ? { ulimits: op.ulimits.map((u) => ({ name: u.name, soft: u.soft, hard: u.hard })) } : {}),
      ...(op.cgroupParent !== undefined ? { cgroupParent: op.cgroupParent } : {}),
      ...(op.resources !== undefined ? { resources: Object.fromEntries(Object.entries(op.resources).filter(([, v]) => v !== undefined)) } : {}),
    },
    mounts,
    inlineFiles: (op.inlineFiles ?? []).map((f) => ({ path: f.path, data: f.data, mode: f.mode })),
    exitCode: failed.exitCode,
    ...(failed.signal !== undefined ? { signal: failed.signal } : {}),
  };
}

/** Keeps the first failed RUN step of a build (see the header); the oldest kept builds beyond `limit` go. */
export function failedStepKeeper(options: FailedStepKeeperOptions): FailedStepKeeper {
  const now = options.now ?? Date.now;
  return {
    async start() {
      let staged;
      try {
        staged = await options.store.stage();
      } catch (error) {
        // Recording is a convenience: the step runs anyway, and simply is not kept if it fails.
        options.warn(`cannot record the step's output for stagecraft debug: ${error instanceof Error ? error.message : String(error)}`);
        return { log: () => undefined, discard: () => Promise.resolve(), keep: async (_failed, rootfs) => { await rootfs[Symbol.asyncDispose](); return undefined; } };
      }
      return {
        log: (chunk) => staged.write(chunk),
        discard: () => staged.discard(),
        keep: async (failed, rootfs, signal) => {
          let snapshot;
          try {
            snapshot = await rootfs.commit(signal);
            const published = await staged.publish(debugRecord(failed, options.buildId, snapshot.id, now()));
            if (!published) {
              // Another step of this build failed first and is the one kept.
              await options.snapshotter.remove(snapshot);
              return undefined;
            }
            await options.store.trim(options.limit, options.busy);
            return options.buildId;
          } catch (error) {
            options.warn(`the state of the failed step was not kept for stagecraft debug: ${error instanceof Error ? error.message : String(error)}`);
            await Promise.resolve(rootfs[Symbol.asyncDispose]()).catch(() => undefined);
            if (snapshot !== undefined) await options.snapshotter.remove(snapshot).catch(() => undefined);
            await staged.discard().catch(() => undefined);
            return undefined;
          }
        },
      };
    },
  };
}

export interface DebugSessionOptions {
  /** The failed build to debug; default: the newest kept one. */
  readonly buildId?: string | undefined;
  /** The command, e.g. `['/bin/sh']` or `['/bin/sh', '-c', 'cat /marker']`. */
  readonly args: readonly string[];
  /** An interactive terminal (this process's stdio must include one). */
  readonly terminal: boolean;
  /** Secrets given again (`--secret`): id → value. */
  readonly secrets: ReadonlyMap<string, Buffer>;
  /** ssh agents given again: id → socket. */
  readonly ssh: ReadonlyMap<string, string>;
  readonly allow: readonly Entitlement[];
  readonly stdout: (chunk: Buffer) => void;
  readonly stderr: (chunk: Buffer) => void;
  /** What differs from the step (a mount left out, and why). */
  readonly note: (message: string) => void;
  readonly signal?: AbortSignal | undefined;
}

export interface DebugSessionResult {
  readonly buildId: string;
  readonly exitCode: number;
}

export interface DebugDeps {
  readonly stateRoot: string;
  readonly db: Database;
  /** Failed builds kept (the config's `debugKeep`), for the hint when none is. */
  readonly keep: number;
  readonly warn: (message: string) => void;
}

function noState(keep: number, buildId: string | undefined): StagecraftError {
  const enable = 'set "debugKeep" in the config file (<state root>/config.json) or STAGECRAFT_DEBUG_KEEP to the number of failed builds to keep';
  if (keep === 0) {
    return new StagecraftError('USAGE', `no failed step is kept to debug${buildId !== undefined ? ` (build ${buildId})` : ''}: keeping failed steps is disabled (debugKeep is 0)`, {
      hint: `${enable}, then run the failing build again`,
    });
  }
  if (buildId === undefined) {
    return new StagecraftError('USAGE', 'no failed step is kept to debug: no build has failed in a RUN step since the last prune', {
      hint: `stagecraft keeps the failed RUN step of the last ${keep} failed builds; run the failing build, then stagecraft debug (stagecraft debug ls lists what is kept)`,
    });
  }
  return new StagecraftError('USAGE', `no failed step is kept for build ${buildId}`, {
    hint: `only builds that failed in a RUN step are kept, the newest ${keep} of them (${enable}); stagecraft debug ls lists what is kept`,
  });
}

/** The kept states, newest first. */
export async function listDebugStates(deps: DebugDeps): Promise<DebugRecord[]> {
  const snapshotter = await openSnapshotter(join(deps.stateRoot, 'snapshots'));
  return openDebugStore(deps.stateRoot, snapshotter, deps.warn).list();
}

function entitlementNeeded(record: DebugRecord, allow: readonly Entitlement[]): StagecraftError | undefined {
  if (record.process.network === 'host' && !allow.includes('network.host')) {
    return new StagecraftError('USAGE', `the step ran with --network=host: network.host is not allowed`, { hint: 'the build was given --allow network.host; pass it to debug as well' });
  }
  if (record.process.security === 'insecure' && !allow.includes('security.insecure')) {
    return new StagecraftError('USAGE', `the step ran with --security=insecure: security.insecure is not allowed`, { hint: 'the build was given --allow security.insecure; pass it to debug as well' });
  }
  return undefined;
}

/** Runs `options.args` in the kept state of a failed step (see the header). */
export async function debugSession(deps: DebugDeps, options: DebugSessionOptions): Promise<DebugSessionResult> {
  const signal = options.signal ?? new AbortController().signal;
  const locks = new StoreLocks(deps.db);
  const scope = new Disposer();
  try {
    // As a build: `prune --all` waits for the session to end, plain prune and trimming skip its state.
    scope.use(await locks.acquire(STATE_ROOT_LOCK, 'shared', signal));
    const snapshotter = await openSnapshotter(join(deps.stateRoot, 'snapshots'));
    const store = openDebugStore(deps.stateRoot, snapshotter, deps.warn);
    if (deps.keep === 0 && (await store.ids()).length === 0) throw noState(0, options.buildId);
    const buildId = options.buildId ?? (await store.list())[0]?.buildId;
    if (buildId === undefined) throw noState(deps.keep, undefined);
    if (!/^[a-f0-9]{16}$/u.test(buildId)) {
      throw new StagecraftError('USAGE', `"${buildId}" is not a build id`, { hint: 'a build id is 16 hex digits, as stagecraft debug ls lists them' });
    }
    scope.use(await locks.acquire(debugLockName(buildId), 'shared', signal));
    const record = await store.get(buildId);
    if (record === undefined) throw noState(deps.keep, buildId);
    const denied = entitlementNeeded(record, options.allow);
    if (denied !== undefined) throw denied;
    const kept = await snapshotter.get(record.snapshot);
    if (kept === null) {
      throw new StagecraftError('STORE_CORRUPT', `the kept filesystem of build ${buildId} (snapshot ${record.snapshot}) is gone`, { hint: `remove the state: stagecraft prune, or rm -r ${store.dir(buildId)}` });
    }
    const runDir = join(deps.stateRoot, 'run', `${PROCESS_OWNER}-debug-${randomBytes(6).toString('hex')}`);
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    scope.defer(() => rm(runDir, { recursive: true, force: true }));
    // A writable layer of its own over the kept state: the session's changes go with it.
    const mutable = scope.use(await snapshotter.prepare(kept, `debug-${buildId}`, signal));
    const rootfs = scope.use(await mutable.mount(undefined, signal));
    const mounts = await sessionMounts(record, { scope, snapshotter, runDir, locks, stateRoot: deps.stateRoot, options, signal });
    const stateDir = join(runcStateParent(deps.stateRoot), `${PROCESS_OWNER}-${randomBytes(8).toString('hex')}`);
    scope.defer(() => rm(stateDir, { recursive: true, force: true }));
    const executor = createRuncExecutor({ stateDir, runDir: join(runDir, 'runc') });
    const { settings, process: step } = record;
    const result = await executor.run(
      {
        rootfs: rootfs.path,
        args: options.args,
        env: step.env,
        secretEnv: mounts.secretEnv,
        cwd: step.cwd,
        user: step.user,
        hostname: step.hostname,
        network: step.network,
        mounts: mounts.mounts,
        securityInsecure: step.security === 'insecure',
        extraHosts: settings.extraHosts,
        shmSize: settings.shmSize,
        ulimits: settings.ulimits,
        cgroupParent: settings.cgroupParent,
        resources: settings.resources,
      },
      { stdout: options.stdout, stderr: options.stderr, terminal: options.terminal },
      signal,
    );
    return { buildId, exitCode: result.exitCode };
  } finally {
    await scope.dispose();
  }
}

interface MountScope {
  readonly scope: Disposer;
  readonly snapshotter: Snapshotter;
  readonly runDir: string;
  readonly locks: StoreLocks;
  readonly stateRoot: string;
  readonly options: DebugSessionOptions;
  readonly signal: AbortSignal;
}

/** The step's mounts as far as they can be made again; each one left out is a note. */
async function sessionMounts(record: DebugRecord, ctx: MountScope): Promise<{ mounts: ExecMount[]; secretEnv: Record<string, string> }> {
  const { scope, snapshotter, options, signal } = ctx;
  const mounts: ExecMount[] = [];
  const secretEnv: Record<string, string> = {};
  const cacheMounts = new CacheMountPool(join(ctx.stateRoot, 'cache-mounts'), ctx.locks);
  for (const mount of record.mounts) {
    switch (mount.type) {
      case 'tmpfs':
        mounts.push({ type: 'tmpfs', target: mount.target, size: mount.size });
        break;
      case 'cache': {
        const lease = scope.use(await cacheMounts.acquire({ id: mount.id, sharing: mount.sharing, uid: mount.uid, gid: mount.gid, mode: mount.mode }, signal));
        mounts.push({ type: 'bind', source: lease.path, target: mount.target, readonly: mount.readonly });
        break;
      }
      case 'secret': {
        const data = options.secrets.get(mount.id);
        const where = [mount.target, mount.env !== undefined ? `$${mount.env}` : undefined].filter((w) => w !== undefined).join(' and ');
        if (data === undefined) {
          options.note(`secret ${mount.id} was not given again: ${where} ${mount.target !== undefined && mount.env !== undefined ? 'are' : 'is'} absent (pass --secret id=${mount.id},src=FILE to mount it)`);
          break;
        }
        if (mount.env !== undefined) secretEnv[mount.env] = data.toString('utf8');
        if (mount.target !== undefined) mounts.push({ type: 'secret', target: mount.target, data, uid: mount.uid, gid: mount.gid, mode: mount.mode });
        break;
      }
      case 'ssh': {
        const socket = options.ssh.get(mount.id);
        if (socket === undefined) {
          options.note(`ssh agent ${mount.id} was not given again: ${mount.target} is absent (pass --ssh ${mount.id}=SOCKET to mount it)`);
          break;
        }
        mounts.push({ type: 'ssh', source: socket, target: mount.target, uid: mount.uid, gid: mount.gid, mode: mount.mode });
        break;
      }
      case 'bind': {
        if (mount.from === 'context') {
          options.note(`the bind mount of build context files at ${mount.target} is not made again (the context is not kept)`);
          break;
        }
        const snapshot = mount.snapshot === undefined ? null : await snapshotter.get(mount.snapshot);
        if (mount.snapshot !== undefined && snapshot === null) {
          options.note(`the stage bind-mounted at ${mount.target} is no longer unpacked (pruned): the mount is absent`);
          break;
        }
        let root: string;
        if (snapshot === null) {
          root = await mkdtemp(join(ctx.runDir, 'empty-'));
        } else if (mount.readonly && record.process.security !== 'insecure') {
          const dir = await mkdtemp(join(ctx.runDir, 'view-'));
          root = scope.use(await snapshotter.view(snapshot, dir, signal)).path;
        } else {
          // As in the build: a writable bind (any bind of an insecure step) gets a throwaway copy of the stage.
          const scratch = scope.use(await snapshotter.prepare(snapshot, 'debug-bind', signal));
          root = scope.use(await scratch.mount(undefined, signal)).path;
        }
        mounts.push({ type: 'bind', source: await resolveBindSource(root, mount.source), target: mount.target, readonly: mount.readonly });
        break;
      }
    }
  }
  for (const file of record.inlineFiles) mounts.push({ type: 'file', target: file.path, data: Buffer.from(file.data), mode: file.mode });
  return { mounts, secretEnv };
}

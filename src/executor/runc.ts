/**
 * The runc executor: one `runc run` per RUN step, in the foreground, with a bundle in a per-run
 * directory. Everything created for a run — the bundle, generated /etc files, the tmpfs holding
 * secrets, ssh socket proxies, mount stubs in the rootfs, the runc container — is released before
 * `run` settles, on success, failure and abort alike.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, chown, lstat, mkdir, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { StagecraftError } from '../core/index.js';
import { Disposer } from '../util/disposer.js';
import { runProcess } from '../util/process.js';
import { containerPathInRoot, readFileInRoot, walkInRoot, type WalkErrors } from '../util/root-path.js';
import { currentUserNamespace, mapsId, type UserNamespaceMaps } from '../util/userns.js';
import { MountStubs } from './mount-stubs.js';
import { createSlirpNetwork, type NetworkProvider } from './network.js';
import {
  boundingCapabilities,
  DEFAULT_HOSTNAME,
  cgroupsPath,
  generateRuntimeSpec,
  hostsFileContent,
  ociBind,
  ociInlineFile,
  ociSecret,
  ociSocket,
  ociTmpfs,
  nofileLimit,
  SYSTEM_MOUNT_POINTS,
  processEnv,
  resolvConfContent,
  type OciMount,
} from './spec.js';
import { startSocketProxy } from './ssh-proxy.js';
import { rootlessLimitsError } from './userns.js';
import type { ExecIo, ExecResult, ExecSpec, Executor } from './types.js';
import { resolveUser } from './user.js';

export const runcExecutorOptionsSchema = z.strictObject({
  /** runc's state directory (`runc --root`); best on a tmpfs such as /run, as runc's default is. */
  stateDir: z.string().min(1),
  /** Parent of the per-run directories (bundles, generated /etc files). */
  runDir: z.string().min(1),
  /** The runc binary (a name looked up on PATH, or a path). */
  runcPath: z.string().min(1).default('runc'),
  /** The host resolv.conf the container's is derived from. */
  hostResolvConf: z.string().min(1).default('/etc/resolv.conf'),
  /** After an abort: how long to wait for the container to die before giving up on runc. */
  killGraceMs: z.number().int().positive().default(10_000),
  /** After the runc process exits: how long its output pipes may stay open (held by a leaked process). */
  drainMs: z.number().int().positive().default(2_000),
});

export type RuncExecutorOptions = z.input<typeof runcExecutorOptionsSchema> & {
  /** Monotonic milliseconds, for `durationMs` and the kill deadline. */
  readonly now?: (() => number) | undefined;
  /** Makes the namespaces of `default`-network steps; slirp4netns unless given. */
  readonly network?: NetworkProvider | undefined;
};

type Settings = z.output<typeof runcExecutorOptionsSchema>;

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, number]) => [number, name]));

/** How creating a missing working directory fails: WORKDIR names a file of the image, or runs in a loop. */
const WORKDIR_ERRORS: WalkErrors = {
  tooManyLinks: (path) => new StagecraftError('FILE_OPERATION', `too many levels of symbolic links resolving working directory ${path} in the rootfs`, {
    hint: 'a symlink in the image points back at itself; fix or remove it',
  }),
  notADirectory: (path, blocker, final) => new StagecraftError('FILE_OPERATION', final ? `working directory ${path} is not a directory` : `cannot create working directory ${path}: ${blocker} is not a directory`, {
    hint: 'WORKDIR must name a directory; a file of the image is in the way',
  }),
};

const runcLogLine = z.object({ level: z.string(), msg: z.string() });

function runcMissing(runcPath: string, cause: unknown): StagecraftError {
  return new StagecraftError('EXTERNAL_TOOL', `cannot run ${runcPath}: program not found`, {
    hint: 'RUN steps need runc: install it (Debian/Ubuntu: apt-get install runc) or point the runc path at the binary',
    cause,
  });
}

export function createRuncExecutor(options: RuncExecutorOptions): Executor {
  const { now, network, ...rest } = options;
  const parsed = runcExecutorOptionsSchema.safeParse(rest);
  if (!parsed.success) {
    throw new StagecraftError('CONFIG', `invalid runc executor options: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  }
  return new RuncExecutor(parsed.data, now ?? (() => performance.now()), network ?? createSlirpNetwork());
}

class RuncExecutor implements Executor {
  #nofile: Promise<number> | undefined;
  #grantable: Promise<readonly string[] | undefined> | undefined;
  /** Rootless: the user namespace runc runs in (it then runs with `--rootless true`). */
  readonly #userns: UserNamespaceMaps | undefined = currentUserNamespace();

  constructor(
    private readonly settings: Settings,
    private readonly now: () => number,
    private readonly network: NetworkProvider,
  ) {}

  async run(spec: ExecSpec, io: ExecIo, signal: AbortSignal): Promise<ExecResult> {
    signal.throwIfAborted();
    const started = this.now();
    const resources = new Disposer();
    let exitCode = 0;
    let failed = false;
    let failure: unknown;
    try {
      exitCode = await this.#runIn(resources, spec, io, signal);
    } catch (error) {
      failed = true;
      failure = error;
    }
    try {
      await resources.dispose();
    } catch (error) {
      if (!failed) {
        failed = true;
        failure = error;
      }
    }
    if (failed) throw failure;
    signal.throwIfAborted();
    const signalName = exitCode > 128 ? SIGNAL_NAMES.get(exitCode - 128) : undefined;
    return { exitCode, ...(signalName !== undefined ? { signal: signalName } : {}), durationMs: this.now() - started };
  }

  async #runIn(resources: Disposer, spec: ExecSpec, io: ExecIo, signal: AbortSignal): Promise<number> {
    const { stateDir, runDir } = this.settings;
    if (this.#userns !== undefined) {
      const refused = rootlessLimitsError(spec, (await readOptional('/sys/fs/cgroup/cgroup.controllers')) !== undefined);
      if (refused !== undefined) throw refused;
    }
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    await mkdir(runDir, { recursive: true, mode: 0o700 });
    const id = `stagecraft-${randomBytes(8).toString('hex')}`;
    // Short names: unix socket paths (ssh proxies live here) are limited to 108 bytes.
    const dir = await mkdtemp(join(runDir, 'r-'));
    resources.defer(() => rm(dir, { recursive: true, force: true }));

    const rootfs = resolve(spec.rootfs);
    const user = resolveUser(spec.user, {
      passwd: await readFileInRoot(rootfs, '/etc/passwd'),
      group: await readFileInRoot(rootfs, '/etc/group'),
    });
    const cwd = spec.cwd.startsWith('/') ? spec.cwd : `/${spec.cwd}`;
    // Below /proc a working directory is a magic link (/proc/self/fd/N, /proc/1/cwd): runc before
    // 1.1.12 let one reach the host through a leaked fd (CVE-2024-21626). No build needs one.
    if ((await containerPathInRoot(rootfs, cwd)).startsWith('/proc/')) {
      throw new StagecraftError('FILE_OPERATION', `working directory ${spec.cwd} is inside /proc`, {
        hint: "WORKDIR must be a directory of the image; /proc holds the kernel's links to processes and files, which can lead outside the container",
      });
    }
    await checkKernelDirectories(rootfs);
    // runc resolves a mount target in the rootfs following /proc's magic links by their text (the
    // target /proc/1/cwd/x, or a symlink to /proc/self/cwd, reads as the rootfs's own host path), and
    // creates what it finds inside the rootfs: the state root's host path would end up in the layer.
    // runc refuses plain /proc targets anyway; ones reached through links are refused here.
    for (const mount of spec.mounts) {
      const target = await containerPathInRoot(rootfs, mount.target);
      if (target === '/proc' || target.startsWith('/proc/')) {
        throw new StagecraftError('FILE_OPERATION', `mount target ${mount.target} is inside /proc`, {
          hint: "mount targets must be paths of the image; /proc holds the kernel's links to processes and files, which lead outside the container",
        });
      }
    }
    // As BuildKit: a missing working directory is created, owned by the process's user.
    await walkInRoot(rootfs, cwd, { create: { mode: 0o755, owner: { uid: user.uid, gid: user.gid } }, errors: WORKDIR_ERRORS });

    const secretEnv = spec.secretEnv ?? {};
    const sensitive = Object.keys(secretEnv).length > 0 || spec.mounts.some((mount) => mount.type === 'secret' || mount.type === 'ssh');
    // config.json holds the env; secret files and env values go to a tmpfs, never to disk.
    let privateDir = dir;
    if (sensitive) {
      privateDir = join(dir, 'p');
      await mkdir(privateDir, { mode: 0o700 });
      await mountTmpfs(privateDir, tmpfsSize(spec));
      resources.defer(() => unmountTmpfs(privateDir));
    }

    const stubs = new MountStubs(rootfs);
    // Like BuildKit, the /proc, /dev and /sys directories runc creates stay in the rootfs; the stubs of
    // the files bound over (/etc/hosts, /etc/resolv.conf) and of the step's own mounts are removed.
    const keptInRootfs = new Set(['/proc', '/dev', '/sys', '/sys/fs/cgroup']);
    for (const target of [...SYSTEM_MOUNT_POINTS.filter((p) => !keptInRootfs.has(p)), ...spec.mounts.map((mount) => mount.target)]) await stubs.record(target);
    resources.defer(() => stubs.remove());

    const hostname = spec.hostname !== undefined && spec.hostname !== '' ? spec.hostname : DEFAULT_HOSTNAME;
    const hostsFile = join(dir, 'hosts');
    await writeFile(hostsFile, hostsFileContent(hostname, spec.extraHosts), { mode: 0o644 });
    // Released after the container (the disposer runs in reverse order).
    const netns = spec.network === 'default' ? resources.use(await this.network.create(signal)) : undefined;
    const resolvConfFile = join(dir, 'resolv.conf');
    await writeFile(resolvConfFile, resolvConfContent(await readOptional(this.settings.hostResolvConf), spec.network, netns?.nameserver), { mode: 0o644 });

    const mounts: OciMount[] = [];
    let serial = 0;
    for (const mount of spec.mounts) {
      switch (mount.type) {
        case 'bind':
          mounts.push(ociBind(mount.source, mount.target, mount.readonly));
          break;
        case 'tmpfs':
          mounts.push(ociTmpfs(mount.target, mount.size));
          break;
        case 'secret': {
          const file = join(privateDir, `s${serial++}`);
          await writeFile(file, mount.data, { mode: 0o600 });
          await chown(file, mount.uid, mount.gid);
          await chmod(file, mount.mode);
          mounts.push(ociSecret(file, mount.target));
          break;
        }
        case 'file': {
          const file = join(dir, `f${serial++}`);
          await writeFile(file, mount.data, { mode: 0o600 });
          await chmod(file, mount.mode);
          mounts.push(ociInlineFile(file, mount.target));
          break;
        }
        case 'ssh': {
          const proxy = resources.use(await startSocketProxy({ path: join(privateDir, `a${serial++}`), upstream: mount.source, uid: mount.uid, gid: mount.gid, mode: mount.mode }));
          mounts.push(ociSocket(proxy.path, mount.target));
          break;
        }
      }
    }

    const runtimeSpec = generateRuntimeSpec({
      rootfs,
      readonlyRootfs: spec.readonlyRootfs ?? false,
      args: spec.args,
      env: processEnv(spec.env, secretEnv, user.home),
      cwd,
      uid: user.uid,
      gid: user.gid,
      additionalGids: user.additionalGids,
      hostname,
      network: spec.network,
      networkPath: netns?.path,
      securityInsecure: spec.securityInsecure ?? false,
      shmSize: spec.shmSize,
      ulimits: spec.ulimits,
      cgroupsPath: cgroupsPath(spec.cgroupParent, id),
      resources: spec.resources,
      hostsFile,
      resolvConfFile,
      mounts,
      nofile: await (this.#nofile ??= readNofileLimit(this.#userns !== undefined)),
      grantableCapabilities: await (this.#grantable ??= readOptional('/proc/self/status').then((status) => boundingCapabilities(status ?? ''))),
      terminal: io.terminal ?? false,
      rootless: this.#userns === undefined ? undefined : { ttyGroupMapped: mapsId(this.#userns.gidMap, 5) },
    });
    const bundle = join(privateDir, 'b');
    await mkdir(bundle, { mode: 0o700 });
    await writeFile(join(bundle, 'config.json'), JSON.stringify(runtimeSpec), { mode: 0o600 });

    const logFile = join(dir, 'runc.log');
    resources.defer(() => this.#deleteContainer(id));
    signal.throwIfAborted();
    const exitCode = await this.#runRunc(id, bundle, logFile, io, signal);
    if (exitCode !== 0 && !signal.aborted) {
      const problem = await readRuncError(logFile);
      if (problem !== undefined) throw startError(spec.args, problem);
    }
    return exitCode;
  }

  /** `runc run` in the foreground; resolves with its exit status (the process's). */
  async #runRunc(id: string, bundle: string, logFile: string, io: ExecIo, signal: AbortSignal): Promise<number> {
    const { runcPath, stateDir } = this.settings;
    const terminal = io.terminal === true;
    // runc creates missing mount points (/dev, /proc, /sys) in the rootfs with the umask it inherits,
    // and they end up in the step's layer: the CLI runs under umask 0022 (src/cli.ts) for that reason.
    // Rootless: runc's rootless cgroup manager (cgroups it may not write are skipped, not fatal).
    const rootless = this.#userns === undefined ? [] : ['--rootless', 'true'];
    const child = spawn(runcPath, ['--root', stateDir, ...rootless, '--log', logFile, '--log-format', 'json', 'run', '--bundle', bundle, id], {
      // With a terminal, runc proxies our own terminal to the container's pty (and sets it raw).
      stdio: terminal ? 'inherit' : [io.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      // Its own process group: a terminal's Ctrl-C reaches stagecraft, which kills the container
      // itself. An interactive shell stays in ours: the terminal is raw, Ctrl-C is the shell's.
      detached: !terminal,
    });
    child.stdout?.on('data', (chunk: Buffer) => io.stdout(chunk));
    child.stderr?.on('data', (chunk: Buffer) => io.stderr(chunk));
    if (io.stdin !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => {
        // the process may exit without reading all of its input (EPIPE); its exit status tells
      });
      io.stdin.pipe(child.stdin);
    }
    let done = false;
    const closed = this.#waitForExit(child).finally(() => {
      done = true;
    });
    let killing: Promise<void> | undefined;
    const onAbort = (): void => {
      killing ??= this.#kill(id, child, closed, () => done);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    try {
      return await closed;
    } finally {
      signal.removeEventListener('abort', onAbort);
      if (io.stdin !== undefined && child.stdin !== null) io.stdin.unpipe(child.stdin);
      if (killing !== undefined) await killing;
    }
  }

  /**
   * Resolves with the exit status once the process has exited and its output is drained. A process
   * the container leaked could hold the pipes open: after `drainMs` they are closed regardless.
   */
  #waitForExit(child: ChildProcess): Promise<number> {
    return new Promise<number>((resolvePromise, reject) => {
      let status: number | undefined;
      let drainTimer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (drainTimer !== undefined) clearTimeout(drainTimer);
        if (status !== undefined) resolvePromise(status);
      };
      child.once('error', (error: NodeJS.ErrnoException) => {
        if (drainTimer !== undefined) clearTimeout(drainTimer);
        reject(error.code === 'ENOENT' ? runcMissing(this.settings.runcPath, error) : error);
      });
      child.once('exit', (code, signalName) => {
        status = code ?? 128 + (signalName === null ? 0 : constants.signals[signalName]);
        drainTimer = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish();
        }, this.settings.drainMs);
      });
      child.once('close', finish);
    });
  }

  /**
   * Kills the container: `runc kill KILL`, retried while runc is still creating it. If the runc
   * process has not exited by the deadline (a process stuck in the kernel), runc itself is killed
   * and the container force-deleted, so `run` never hangs.
   */
  async #kill(id: string, child: ChildProcess, closed: Promise<number>, isDone: () => boolean): Promise<void> {
    const { runcPath, stateDir, killGraceMs } = this.settings;
    const deadline = this.now() + killGraceMs;
    while (!isDone()) {
      const result = await runProcess(runcPath, ['--root', stateDir, 'kill', id, 'KILL']).catch(() => undefined);
      if (result?.code === 0 || this.now() >= deadline) break;
      await sleep(25);
    }
    const timer = new AbortController();
    await Promise.race([
      closed.catch(() => undefined),
      sleep(Math.max(0, deadline - this.now()), undefined, { signal: timer.signal }).catch(() => undefined),
    ]);
    timer.abort();
    if (isDone()) return;
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await runProcess(runcPath, ['--root', stateDir, 'delete', '--force', id], { signal: AbortSignal.timeout(killGraceMs) }).catch(() => undefined);
  }

  /** Removes the container's runc state if `runc run` did not (it does on a normal exit). */
  async #deleteContainer(id: string): Promise<void> {
    const { runcPath, stateDir } = this.settings;
    try {
      await access(join(stateDir, id));
    } catch {
      return;
    }
    const result = await runProcess(runcPath, ['--root', stateDir, 'delete', '--force', id]);
    if (result.code !== 0) {
      try {
        await access(join(stateDir, id));
      } catch {
        return;
      }
      throw new StagecraftError('EXTERNAL_TOOL', `cannot remove runc container ${id}: ${result.stderr.trim()}`, {
        hint: `remove it by hand: runc --root ${stateDir} delete --force ${id}`,
      });
    }
  }
}

/** The directories runc mounts the kernel's filesystems on (and creates /dev's links and ptmx in). */
const KERNEL_DIRECTORIES = ['dev', 'proc', 'sys'] as const;

/**
 * runc mounts /dev, /proc and /sys on paths it resolves inside the rootfs, but then creates
 * /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr and /dev/ptmx (removing whatever ptmx was there)
 * through the plain host path `<rootfs>/dev/...`, before it pivots into the rootfs: with a /dev that
 * is a symlink (`/dev -> /etc`, or `../../..`), those links are made, and a `ptmx` removed, in a
 * directory of the host. So each of these must be a directory (or missing: runc then creates it
 * inside the rootfs) before runc starts; nothing untrusted runs between this check and runc's mounts.
 */
async function checkKernelDirectories(rootfs: string): Promise<void> {
  for (const name of KERNEL_DIRECTORIES) {
    let info;
    try {
      info = await lstat(join(rootfs, name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (info.isDirectory()) continue;
    const what = info.isSymbolicLink() ? `a symlink (to ${await readlink(join(rootfs, name))})` : 'not a directory';
    throw new StagecraftError('FILE_OPERATION', `/${name} in the image is ${what}`, {
      hint: `RUN steps mount the kernel's /${name} on a directory of the image; a symlink there would lead runc outside the rootfs. Remove /${name} from the image (or make it a directory) in the step or base image that made it`,
    });
  }
}

async function readNofileLimit(userNamespace: boolean): Promise<number> {
  const [status, limits] = await Promise.all([readOptional('/proc/self/status'), readOptional('/proc/self/limits')]);
  return nofileLimit(status ?? '', limits ?? '', userNamespace);
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The error runc logged (`--log-format json`), if any: a failure to start, not the process's exit. */
async function readRuncError(logFile: string): Promise<string | undefined> {
  const text = await readOptional(logFile);
  if (text === undefined) return undefined;
  const messages: string[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = runcLogLine.safeParse(json);
    if (parsed.success && (parsed.data.level === 'error' || parsed.data.level === 'fatal')) messages.push(parsed.data.msg);
  }
  return messages.length > 0 ? messages.join('; ') : undefined;
}

function startError(args: readonly string[], message: string): StagecraftError {
  const detail = message.replace(/^runc (?:run|create) failed: /u, '').replace(/^unable to start container process: /u, '');
  const notFound = /executable file not found|no such file or directory/u.test(detail);
  return new StagecraftError('EXEC_START', `cannot start "${args.join(' ')}": ${detail}`, {
    hint: notFound
      ? 'the program is not in the image: install it in an earlier step, check PATH, or give its absolute path (shell form runs through the stage SHELL)'
      : 'runc refused the container; check the mounts, user and working directory of the step',
  });
}

/** Room for the secrets (page-rounded), config.json with the env, and slack. */
function tmpfsSize(spec: ExecSpec): number {
  const page = 4096;
  let size = 4 * 1024 * 1024;
  for (const mount of spec.mounts) if (mount.type === 'secret') size += Math.ceil(mount.data.length / page) * page + page;
  for (const entry of [...spec.env, ...Object.entries(spec.secretEnv ?? {}).flat()]) size += Buffer.byteLength(entry) * 2;
  return Math.ceil(size / page) * page;
}

async function mountTmpfs(target: string, size: number): Promise<void> {
  const result = await runProcess('mount', ['-t', 'tmpfs', '-o', `mode=0700,size=${size},nosuid,nodev,noexec`, 'tmpfs', target]);
  if (result.code !== 0) {
    throw new StagecraftError('EXEC_START', `cannot mount a tmpfs for secrets at ${target}: ${result.stderr.trim() || `mount exited with ${result.code}`}`, {
      hint: 'RUN steps need root (mount and runc)',
    });
  }
}

async function unmountTmpfs(target: string): Promise<void> {
  let result = await runProcess('umount', [target]);
  if (result.code !== 0) result = await runProcess('umount', ['-l', target]);
  if (result.code !== 0) {
    throw new StagecraftError('EXEC_START', `cannot unmount the secrets tmpfs at ${target}: ${result.stderr.trim()}`, {
      hint: `unmount it by hand: umount -l ${target}`,
    });
  }
}

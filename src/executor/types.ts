/**
 * The executor seam: run one process in a prepared rootfs. The caller (ops/) owns the rootfs and
 * every mount source; the executor owns everything it creates for the run (bundle, generated files,
 * tmpfs for secrets, the runc container) and releases all of it before `run` settles.
 */
import type { Readable } from 'node:stream';
import type { ExecHost, ExecResources, ExecUlimit } from '../plan/index.js';

/** A host directory or file bind-mounted at `target`. */
export interface BindMount {
  readonly type: 'bind';
  readonly source: string;
  readonly target: string;
  readonly readonly: boolean;
}

/** An empty tmpfs at `target`; `size` in bytes (kernel default: half of RAM). */
export interface TmpfsMount {
  readonly type: 'tmpfs';
  readonly target: string;
  readonly size?: number | undefined;
}

/**
 * A file with `data` at `target`, read-only. The bytes live on a tmpfs for the duration of the run
 * only: they are never written to disk and are gone when `run` settles.
 */
export interface SecretMount {
  readonly type: 'secret';
  readonly target: string;
  readonly data: Buffer;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

/**
 * A file of the Dockerfile itself at `target`, read-only and executable (a `RUN <<EOF` heredoc that
 * starts with `#!`, run as a script). Not secret: it is written next to the bundle, not to the tmpfs
 * that holds secrets (which is noexec).
 */
export interface InlineFileMount {
  readonly type: 'file';
  readonly target: string;
  readonly data: Buffer;
  readonly mode: number;
}

/** The host unix socket `source` (an ssh agent) reachable at `target` with the given owner and mode. */
export interface SshMount {
  readonly type: 'ssh';
  readonly source: string;
  readonly target: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

export type ExecMount = BindMount | TmpfsMount | SecretMount | InlineFileMount | SshMount;

/**
 * RUN --network: `default`, a namespace of its own with outbound access that cannot reach the host's
 * loopback; `none`, a namespace of its own with only a loopback interface; `host`, the host's.
 */
export type NetworkMode = 'default' | 'none' | 'host';

export interface ExecSpec {
  /** An already-mounted rootfs directory; the executor may create the working directory in it. */
  readonly rootfs: string;
  /** The argv, already resolved (exec form, or SHELL + command for shell form). */
  readonly args: readonly string[];
  /** `NAME=value` entries. PATH and HOME get defaults when absent. */
  readonly env: readonly string[];
  /** Values given to the process env only (RUN --mount=type=secret,env=…); they override `env`. */
  readonly secretEnv?: Readonly<Record<string, string>> | undefined;
  /** Absolute path inside the rootfs; created (owned by the user) when missing. */
  readonly cwd: string;
  /** As in Dockerfile USER: `name`, `uid`, `name:group`, `uid:gid`; empty means root. */
  readonly user: string;
  /** Container hostname; a fixed default when empty. */
  readonly hostname?: string | undefined;
  readonly network: NetworkMode;
  readonly mounts: readonly ExecMount[];
  /** Extra /etc/hosts entries (`--add-host name:ip`). */
  readonly extraHosts?: readonly ExecHost[] | undefined;
  readonly readonlyRootfs?: boolean | undefined;
  /** RUN --security=insecure: all capabilities, no masked paths, writable /sys and cgroups. */
  readonly securityInsecure?: boolean | undefined;
  /** Size of the /dev/shm tmpfs in bytes (`--shm-size`); default 64 MiB, as Docker. */
  readonly shmSize?: number | undefined;
  /** Resource limits (`--ulimit`); they replace the default of the same name (NOFILE). */
  readonly ulimits?: readonly ExecUlimit[] | undefined;
  /** The cgroup the container's cgroup is made under (`--cgroup-parent`); default: runc's. */
  readonly cgroupParent?: string | undefined;
  /** Cgroup limits (`--memory`, `--cpu-shares`, …). */
  readonly resources?: ExecResourceLimits | undefined;
}

/** Cgroup limits of a process (OCI runtime spec linux.resources memory and cpu, in Docker's units): the plan's. */
export type ExecResourceLimits = ExecResources;

export interface ExecIo {
  readonly stdout: (chunk: Buffer) => void;
  readonly stderr: (chunk: Buffer) => void;
  /** Piped to the process; without it the process reads /dev/null. */
  readonly stdin?: Readable | undefined;
  /**
   * Gives the process a terminal (`stagecraft debug`): runc makes a pty and joins it to this
   * process's own stdin/stdout/stderr, one of which must be a terminal; `stdout`, `stderr` and
   * `stdin` are then unused.
   */
  readonly terminal?: boolean | undefined;
}

export interface ExecResult {
  /** The process's exit status; 128 + n when it was killed by signal n. */
  readonly exitCode: number;
  /** The signal name (e.g. `SIGKILL`) when `exitCode` is 128 + a signal number. */
  readonly signal?: string | undefined;
  readonly durationMs: number;
}

/**
 * Runs processes in containers.
 *
 * `run` resolves with the process's exit status (a non-zero status is not an error here: the caller
 * decides). It rejects with a StagecraftError when the container cannot be set up or started
 * (unknown user, missing executable, runc failure), and with `signal.reason` when aborted; in that
 * case the process has been killed. On every path the container and everything created for it are
 * gone when the promise settles.
 */
export interface Executor {
  run(spec: ExecSpec, io: ExecIo, signal: AbortSignal): Promise<ExecResult>;
}

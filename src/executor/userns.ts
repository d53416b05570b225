/**
 * Rootless: runs a command (stagecraft itself) as root of a new user and mount namespace, so that
 * everything a build does — overlay mounts, tmpfs for secrets, runc — works for an unprivileged user.
 *
 * Node cannot unshare(2) itself (it is multi-threaded) nor execve(2) in place, and a process only
 * keeps its namespace capabilities across execve when it is root of the namespace at that moment.
 * So the namespace is made by util-linux `unshare --user --mount`, which execs a tiny `sh` that
 * reports on fd 3 and waits; the parent writes the id maps (newuidmap/newgidmap with the user's
 * /etc/subuid and /etc/subgid ranges, else the single-id map `0 <uid> 1` written directly), then
 * releases the shell, which execs the command as uid 0 of the namespace with its full capability
 * set there. The namespace's mounts are private and vanish with its last process.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { StagecraftError } from '../core/index.js';
import { runProcess } from '../util/process.js';
import { describeIdMap, idMapArgs, parseSubIds, rootlessIdMap, type IdMapEntry } from '../util/userns.js';

/** What the host allows, read from /proc/sys (undefined: the file does not exist on this kernel). */
export interface UserNamespaceSysctls {
  /** /proc/sys/user/max_user_namespaces */
  readonly maxUserNamespaces: string | undefined;
  /** /proc/sys/kernel/unprivileged_userns_clone (Debian and Ubuntu kernels before 6.x) */
  readonly unprivilegedUsernsClone: string | undefined;
  /** /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu 23.10+) */
  readonly apparmorRestrict?: string | undefined;
}

export interface RootlessOptions {
  /** The program to run in the namespace and its arguments. */
  readonly command: string;
  readonly args: readonly string[];
  readonly uid: number;
  readonly gid: number;
  /** The user's login name (for its /etc/subuid lines); undefined when it has none. */
  readonly userName: string | undefined;
  /** /etc/subuid and /etc/subgid texts; undefined when the file does not exist. */
  readonly subuid: string | undefined;
  readonly subgid: string | undefined;
  readonly sysctls: UserNamespaceSysctls;
  /** Told when the single-id map is used. */
  readonly warn: (message: string) => void;
  readonly unsharePath?: string | undefined;
  readonly newuidmapPath?: string | undefined;
  readonly newgidmapPath?: string | undefined;
}

export interface RootlessPlan {
  readonly uidMap: readonly IdMapEntry[];
  readonly gidMap: readonly IdMapEntry[];
  /** Whether the maps go through newuidmap/newgidmap (subordinate ranges) or are the single-id map. */
  readonly helpers: boolean;
}

function sysctlError(message: string, fix: string): StagecraftError {
  return new StagecraftError('ROOTLESS', message, {
    hint: `as root: ${fix} (and add it to /etc/sysctl.d/ to keep it after a reboot), or run stagecraft as root`,
  });
}

/** Refuses, naming the sysctl to set, when the kernel does not let unprivileged users make a user namespace. */
export function checkUserNamespaceSysctls(sysctls: UserNamespaceSysctls): void {
  if (sysctls.unprivilegedUsernsClone?.trim() === '0') {
    throw sysctlError('unprivileged user namespaces are disabled on this host (kernel.unprivileged_userns_clone = 0); rootless builds need one', 'sysctl -w kernel.unprivileged_userns_clone=1');
  }
  if (sysctls.maxUserNamespaces?.trim() === '0') {
    throw sysctlError('user namespaces are disabled on this host (user.max_user_namespaces = 0); rootless builds need one', 'sysctl -w user.max_user_namespaces=15000');
  }
}

/** The id maps for the user: subordinate ranges from both files, else the single-id map (with a warning). */
export function planRootless(options: Pick<RootlessOptions, 'uid' | 'gid' | 'userName' | 'subuid' | 'subgid' | 'warn'>): RootlessPlan {
  const uidRanges = parseSubIds(options.subuid ?? '', { name: options.userName, id: options.uid });
  const gidRanges = parseSubIds(options.subgid ?? '', { name: options.userName, id: options.uid });
  if (uidRanges.length > 0 && gidRanges.length > 0) {
    return { uidMap: rootlessIdMap(options.uid, uidRanges), gidMap: rootlessIdMap(options.gid, gidRanges), helpers: true };
  }
  const who = options.userName ?? String(options.uid);
  const missing = [uidRanges.length === 0 ? '/etc/subuid' : undefined, gidRanges.length === 0 ? '/etc/subgid' : undefined].filter((f) => f !== undefined).join(' and ');
  options.warn(`no subordinate id range for ${who} in ${missing}: building with a single-id user namespace (only uid/gid 0 exist; images with files of other owners cannot be unpacked). As root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${who}`);
  return { uidMap: rootlessIdMap(options.uid, []), gidMap: rootlessIdMap(options.gid, []), helpers: false };
}

/**
 * Cgroup limits of a rootless RUN step (`--memory`, `--cpu-*`, `--cgroup-parent`): runc's rootless
 * cgroup manager can apply them only on cgroup v2 with a delegated subtree; on cgroup v1 it fails at
 * container start ("container could not join or create cgroup"). Refused up front there, naming why.
 */
export function rootlessLimitsError(spec: { readonly cgroupParent?: string | undefined; readonly resources?: object | undefined }, cgroupV2: boolean): StagecraftError | undefined {
  const limited = (spec.cgroupParent !== undefined && spec.cgroupParent !== '') || Object.values(spec.resources ?? {}).some((value) => value !== undefined);
  if (!limited || cgroupV2) return undefined;
  return new StagecraftError('ROOTLESS', 'a rootless build cannot limit RUN steps on this host: it has cgroup v1, which an unprivileged user cannot write', {
    hint: 'drop --memory, --memory-swap, --cpu-*, --cpuset-* and --cgroup-parent, or build as root; rootless limits need cgroup v2 with a delegated subtree (systemd: Delegate=yes for user@.service)',
  });
}

/** Reports on fd 3 once the namespace exists, waits for the go-ahead, then execs the command as namespace root. */
const WAIT_SCRIPT = 'printf r >&3 && IFS= read -r go <&3 && [ "$go" = go ] && exec 3<&- && exec "$@"';

/**
 * Runs the command in a new user + mount namespace with the plan's maps; resolves with its exit
 * status (128 + signal when killed). SIGTERM and SIGHUP are passed on; SIGINT from a terminal
 * reaches both processes (one process group), so the parent only waits for the child.
 */
export async function runInUserNamespace(options: RootlessOptions): Promise<number> {
  checkUserNamespaceSysctls(options.sysctls);
  const plan = planRootless(options);
  const unshare = options.unsharePath ?? 'unshare';
  const child = spawn(unshare, ['--user', '--mount', '--propagation', 'private', '--', 'sh', '-c', WAIT_SCRIPT, 'sh', options.command, ...options.args], {
    // The terminal stays the command's (progress output checks isatty); unshare's own errors show there too.
    stdio: ['inherit', 'inherit', 'inherit', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const control = child.stdio[3] as (Readable & Writable) | null;
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  const onInterrupt = (): void => {
    // the terminal sent it to the child as well
  };
  process.on('SIGTERM', forward).on('SIGHUP', forward).on('SIGINT', onInterrupt);
  try {
    const ready = await new Promise<boolean>((resolve) => {
      if (control === null) return resolve(false);
      control.once('data', () => resolve(true));
      control.once('error', () => resolve(false));
      control.once('close', () => resolve(false));
      void exited.then(() => resolve(false));
    });
    if (!ready) throw unshareError(unshare, await exited, options.sysctls);
    if (child.pid === undefined) throw new Error('unshare has no pid');
    try {
      await writeMaps(child.pid, plan, options);
    } catch (error) {
      child.kill('SIGKILL');
      await exited;
      throw error;
    }
    control?.end('go\n');
    const status = await exited;
    if (status.signal !== null) return 128 + (signalNumber(status.signal) ?? 0);
    return status.code ?? 1;
  } finally {
    process.off('SIGTERM', forward).off('SIGHUP', forward).off('SIGINT', onInterrupt);
    control?.destroy();
  }
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };
  return numbers[signal];
}

async function writeMaps(pid: number, plan: RootlessPlan, options: RootlessOptions): Promise<void> {
  if (!plan.helpers) {
    // An unprivileged process may map its own ids only, and its gid only after denying setgroups(2).
    await writeFile(`/proc/${pid}/uid_map`, `0 ${options.uid} 1\n`);
    await writeFile(`/proc/${pid}/setgroups`, 'deny');
    await writeFile(`/proc/${pid}/gid_map`, `0 ${options.gid} 1\n`);
    return;
  }
  for (const [tool, map, file] of [
    [options.newuidmapPath ?? 'newuidmap', plan.uidMap, '/etc/subuid'],
    [options.newgidmapPath ?? 'newgidmap', plan.gidMap, '/etc/subgid'],
  ] as const) {
    let result;
    try {
      result = await runProcess(tool, [String(pid), ...idMapArgs(map)]);
    } catch (error) {
      throw new StagecraftError('ROOTLESS', `cannot run ${tool}: program not found; it writes the subordinate id ranges of ${file} into the user namespace`, {
        hint: 'install it (Debian/Ubuntu: apt-get install uidmap; Fedora: shadow-utils), or remove the user\'s ranges from /etc/subuid and /etc/subgid to build with a single-id map',
        cause: error,
      });
    }
    if (result.code !== 0) {
      throw new StagecraftError('ROOTLESS', `${tool} refused the map ${describeIdMap(map)}: ${result.stderr.trim() || `exit status ${result.code}`}`, {
        hint: `check the user's ranges in ${file} (they must not overlap another user's) and that ${tool} is setuid root (ls -l $(command -v ${tool}))`,
      });
    }
  }
}

function unshareError(unshare: string, status: { code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }, sysctls: UserNamespaceSysctls): StagecraftError {
  if (status.error?.code === 'ENOENT') {
    return new StagecraftError('ROOTLESS', `cannot run ${unshare}: program not found`, { hint: 'rootless builds need util-linux\'s unshare (Debian/Ubuntu: apt-get install util-linux)', cause: status.error });
  }
  const detail = status.code !== null ? `${unshare} exited with ${status.code} (its message is above)` : `${unshare} was killed by ${status.signal ?? 'a signal'}`;
  const apparmor = sysctls.apparmorRestrict?.trim() === '1';
  return new StagecraftError('ROOTLESS', `cannot create a user namespace: ${detail}`, {
    hint: apparmor
      ? 'AppArmor restricts unprivileged user namespaces here (kernel.apparmor_restrict_unprivileged_userns = 1): as root, sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or add an AppArmor profile allowing userns for stagecraft'
      : 'unprivileged user namespaces must be allowed: check sysctl user.max_user_namespaces (> 0) and, where it exists, kernel.unprivileged_userns_clone (= 1); or run stagecraft as root',
  });
}

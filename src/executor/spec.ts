/**
 * The OCI runtime spec (config.json) for one RUN step, and the files bind-mounted into it. Pure:
 * every host path is an input. Defaults follow what Docker and BuildKit give a build container:
 * Docker's default capability set, runc's masked and read-only paths, /dev with runc's standard
 * nodes (runc creates null, zero, full, random, urandom, tty, ptmx itself), NOFILE 1048576, and
 * the default seccomp profile (seccomp.ts).
 */
import { release } from 'node:os';
import { defaultSeccompProfile, type OciSeccomp, type SeccompHost } from './seccomp.js';
import type { ExecResourceLimits, NetworkMode } from './types.js';

/** OCI runtime-spec `mounts[]` entry (config.md#mounts). */
export interface OciMount {
  readonly destination: string;
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

/** The subset of the OCI runtime spec (v1.0.2) that stagecraft writes. */
export interface RuntimeSpec {
  readonly ociVersion: string;
  readonly process: {
    readonly terminal: boolean;
    /** `umask`: always 0022 (runc otherwise inherits the builder's, and a builder under umask 077 would make other files than one under 022). */
    readonly user: { readonly uid: number; readonly gid: number; readonly umask: number; readonly additionalGids?: readonly number[] };
    readonly args: readonly string[];
    readonly env: readonly string[];
    readonly cwd: string;
    readonly capabilities: {
      readonly bounding: readonly string[];
      readonly effective: readonly string[];
      readonly permitted: readonly string[];
    };
    readonly rlimits: readonly { readonly type: string; readonly hard: number; readonly soft: number }[];
    readonly noNewPrivileges: boolean;
  };
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string;
  readonly mounts: readonly OciMount[];
  readonly linux: {
    readonly namespaces: readonly { readonly type: string; readonly path?: string }[];
    readonly cgroupsPath?: string;
    readonly resources: {
      readonly devices: readonly { readonly allow: boolean; readonly access: string }[];
      readonly memory?: { readonly limit?: number; readonly swap?: number };
      readonly cpu?: { readonly shares?: number; readonly quota?: number; readonly period?: number; readonly cpus?: string; readonly mems?: string };
    };
    readonly maskedPaths: readonly string[];
    readonly readonlyPaths: readonly string[];
    /** Absent only for RUN --security=insecure (unconfined, as BuildKit). */
    readonly seccomp?: OciSeccomp;
  };
}

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The hostname of a RUN step that names none: BuildKit's, so scripts that look at it behave alike. */
export const DEFAULT_HOSTNAME = 'buildkitsandbox';
export const NOFILE_LIMIT = 1_048_576;
/** Docker's default /dev/shm size (64 MiB). */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** `--ulimit` names (docker's go-units ulimit.go) → the RLIMIT_ they set. */
export const ULIMIT_NAMES: Readonly<Record<string, string>> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK',
};

/**
 * linux.cgroupsPath for `--cgroup-parent` as BuildKit makes it (executor/oci/spec.go): a systemd
 * `slice:prefix:` parent (has `.slice`, ends in `:`) gets the id appended; any other is the cgroupfs
 * path `/PARENT/stagecraft/ID`. Undefined without a parent (runc's default).
 */
export function cgroupsPath(parent: string | undefined, id: string): string | undefined {
  if (parent === undefined || parent === '') return undefined;
  if (parent.includes('.slice') && parent.endsWith(':')) return `${parent}${id}`;
  const parts = [...parent.split('/'), 'stagecraft', id].filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`cgroupsPath: ".." in ${parent}`);
  return `/${parts.join('/')}`;
}

/** OCI linux.resources memory and cpu from Docker's flags (only those given). */
function resourceLimits(limits: ExecResourceLimits | undefined): { memory?: { limit?: number; swap?: number }; cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string } } {
  if (limits === undefined) return {};
  const memory = { ...(limits.memory !== undefined ? { limit: limits.memory } : {}), ...(limits.memorySwap !== undefined ? { swap: limits.memorySwap } : {}) };
  const cpu = {
    ...(limits.cpuShares !== undefined ? { shares: limits.cpuShares } : {}),
    ...(limits.cpuQuota !== undefined ? { quota: limits.cpuQuota } : {}),
    ...(limits.cpuPeriod !== undefined ? { period: limits.cpuPeriod } : {}),
    ...(limits.cpusetCpus !== undefined ? { cpus: limits.cpusetCpus } : {}),
    ...(limits.cpusetMems !== undefined ? { mems: limits.cpusetMems } : {}),
  };
  return { ...(Object.keys(memory).length > 0 ? { memory } : {}), ...(Object.keys(cpu).length > 0 ? { cpu } : {}) };
}

/** The process's rlimits: NOFILE (`nofile`) unless a ulimit replaces it, then the ulimits in order. */
function rlimits(input: RuntimeSpecInput): { type: string; hard: number; soft: number }[] {
  const own = (input.ulimits ?? []).map((u) => {
    const type = ULIMIT_NAMES[u.name];
    if (type === undefined) throw new Error(`generateRuntimeSpec: unknown ulimit ${u.name}`);
    return { type, hard: u.hard, soft: u.soft };
  });
  const byType = new Map<string, { type: string; hard: number; soft: number }>([['RLIMIT_NOFILE', { type: 'RLIMIT_NOFILE', hard: input.nofile, soft: input.nofile }]]);
  for (const limit of own) byType.set(limit.type, limit);
  return [...byType.values()];
}

/** Docker's default capability set (moby/oci/caps/defaults.go). */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Every capability up to Linux 5.9 (runc ignores ones the kernel does not know). */
export const ALL_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** runc's default masked paths (libcontainer/specconv example spec). */
export const MASKED_PATHS: readonly string[] = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];

/**
 * runc's default read-only paths, and /sys/fs/cgroup: on a cgroup v1 host runc mounts a tmpfs there
 * (with the controllers read-only below it) and leaves the tmpfs itself writable, where Docker's is
 * read-only; without this a step could fill memory through it.
 */
export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger', '/sys/fs/cgroup'];

export interface RuntimeSpecInput {
  readonly rootfs: string;
  readonly readonlyRootfs: boolean;
  readonly args: readonly string[];
  /** The final environment (see `processEnv`). */
  readonly env: readonly string[];
  readonly cwd: string;
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids: readonly number[];
  readonly hostname: string;
  readonly network: NetworkMode;
  /** `default` network: the namespace to join (made by a `NetworkProvider`, see network.ts). */
  readonly networkPath?: string | undefined;
  readonly securityInsecure: boolean;
  /** Host files bind-mounted read-only at /etc/hosts and /etc/resolv.conf. */
  readonly hostsFile: string;
  readonly resolvConfFile: string;
  /** The step's own mounts, already lowered (`ociBind`, `ociTmpfs`, …); they win over the defaults. */
  readonly mounts: readonly OciMount[];
  /** RLIMIT_NOFILE (soft = hard) for the process; see `nofileLimit`. */
  readonly nofile: number;
  /** `--ulimit`: `name` as in ulimit(1) (ULIMIT_NAMES); one named nofile replaces `nofile`. */
  readonly ulimits?: readonly { readonly name: string; readonly soft: number; readonly hard: number }[] | undefined;
  /** Size of /dev/shm in bytes; default DEFAULT_SHM_SIZE. */
  readonly shmSize?: number | undefined;
  /** linux.cgroupsPath (see `cgroupsPath`); default: runc's. */
  readonly cgroupsPath?: string | undefined;
  /** Memory and CPU limits (linux.resources). */
  readonly resources?: ExecResourceLimits | undefined;
  /** The capabilities this process holds (its bounding set; see `boundingCapabilities`); default: all. */
  readonly grantableCapabilities?: readonly string[] | undefined;
  /** The host the seccomp profile is made for; default: this one. */
  readonly seccompHost?: SeccompHost | undefined;
  /** process.terminal: the process gets a pty (an interactive debug shell). */
  readonly terminal?: boolean | undefined;
  /**
   * Rootless: runc runs as root of a user namespace (docs/rootless.md). A host-network step gets the
   * host's /sys as a read-only bind (sysfs can only be mounted by the owner of the network
   * namespace), and devpts names gid 5 (tty) only where that gid is mapped.
   */
  readonly rootless?: { readonly ttyGroupMapped: boolean } | undefined;
}

function systemMounts(input: RuntimeSpecInput): OciMount[] {
  const sysOptions = input.securityInsecure ? ['nosuid', 'noexec', 'nodev', 'rw'] : ['nosuid', 'noexec', 'nodev', 'ro'];
  const devptsGroup = input.rootless === undefined || input.rootless.ttyGroupMapped ? ['gid=5'] : [];
  const sys: OciMount = input.rootless !== undefined && input.network === 'host'
    ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: sysOptions };
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...devptsGroup] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${input.shmSize ?? DEFAULT_SHM_SIZE}`] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    sys,
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: sysOptions },
    { destination: '/etc/resolv.conf', type: 'bind', source: input.resolvConfFile, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] },
    { destination: '/etc/hosts', type: 'bind', source: input.hostsFile, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] },
  ];
}

/** Where the container's system mounts go: runc creates these in the rootfs when they are missing. */
export const SYSTEM_MOUNT_POINTS: readonly string[] = ['/proc', '/dev', '/sys', '/sys/fs/cgroup', '/etc/resolv.conf', '/etc/hosts'];

function normalizeDestination(path: string): string {
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  return `/${parts.join('/')}`;
}

export function generateRuntimeSpec(input: RuntimeSpecInput): RuntimeSpec {
  const stepMounts = input.mounts.map((mount) => ({ ...mount, destination: normalizeDestination(mount.destination) }));
  const own = new Set(stepMounts.map((mount) => mount.destination));
  const mounts = [...systemMounts(input).filter((mount) => !own.has(mount.destination)), ...stepMounts];
  // Insecure: every capability this process can pass on (runc fails on one outside its bounding set).
  const grantable = input.grantableCapabilities === undefined ? undefined : new Set(input.grantableCapabilities);
  const capabilities = input.securityInsecure ? ALL_CAPABILITIES.filter((cap) => grantable?.has(cap) ?? true) : DEFAULT_CAPABILITIES;
  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, ...networkNamespaces(input)];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.terminal ?? false,
      user: { uid: input.uid, gid: input.gid, umask: 0o022, ...(input.additionalGids.length > 0 ? { additionalGids: [...input.additionalGids] } : {}) },
      args: [...input.args],
      env: [...input.env],
      cwd: input.cwd,
      capabilities: { bounding: [...capabilities], effective: [...capabilities], permitted: [...capabilities] },
      rlimits: rlimits(input),
      noNewPrivileges: false,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      ...(input.cgroupsPath !== undefined ? { cgroupsPath: input.cgroupsPath } : {}),
      resources: { devices: [{ allow: input.securityInsecure, access: 'rwm' }], ...resourceLimits(input.resources) },
      maskedPaths: input.securityInsecure ? [] : [...MASKED_PATHS],
      readonlyPaths: input.securityInsecure ? [] : [...READONLY_PATHS],
      ...(input.securityInsecure ? {} : { seccomp: defaultSeccompProfile(capabilities, input.seccompHost ?? { arch: process.arch, kernelRelease: release() }) }),
    },
  };
}

/**
 * The network namespace entry: `host` has none (the container stays in the runtime's namespace);
 * `none` asks runc for a new one (runc brings up its loopback); `default` joins the prepared one.
 */
function networkNamespaces(input: RuntimeSpecInput): { type: string; path?: string }[] {
  switch (input.network) {
    case 'host':
      return [];
    case 'none':
      return [{ type: 'network' }];
    case 'default':
      if (input.networkPath === undefined) throw new Error('generateRuntimeSpec: the default network needs networkPath');
      return [{ type: 'network', path: input.networkPath }];
  }
}

/** A bind mount of a host path. `hostSource` is where a secret's or ssh socket's file was put. */
export function ociBind(hostSource: string, target: string, readonly: boolean): OciMount {
  return { destination: target, type: 'bind', source: hostSource, options: ['rbind', readonly ? 'ro' : 'rw'] };
}

export function ociTmpfs(target: string, size: number | undefined): OciMount {
  return { destination: target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(size !== undefined ? [`size=${size}`] : [])] };
}

/** A secret file: read-only, no devices, no setuid, no exec. */
export function ociSecret(hostFile: string, target: string): OciMount {
  return { destination: target, type: 'bind', source: hostFile, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] };
}

/** A file of the Dockerfile (a heredoc script): read-only, executable. */
export function ociInlineFile(hostFile: string, target: string): OciMount {
  return { destination: target, type: 'bind', source: hostFile, options: ['rbind', 'ro', 'nosuid', 'nodev'] };
}

/** An ssh agent socket: writable (connect(2) needs write permission on the socket). */
export function ociSocket(hostSocket: string, target: string): OciMount {
  return { destination: target, type: 'bind', source: hostSocket, options: ['rbind', 'rw', 'nosuid', 'nodev', 'noexec'] };
}

const CAP_SYS_RESOURCE = 24n;

/** The capabilities in the CapBnd line of a /proc/<pid>/status (ALL_CAPABILITIES is in bit order). */
export function boundingCapabilities(status: string): readonly string[] | undefined {
  const capBnd = /^CapBnd:\s*([0-9a-f]+)/mu.exec(status)?.[1];
  if (capBnd === undefined) return undefined;
  const bits = BigInt(`0x${capBnd}`);
  return ALL_CAPABILITIES.filter((_, bit) => ((bits >> BigInt(bit)) & 1n) === 1n);
}

/**
 * The NOFILE limit to give the process: NOFILE_LIMIT (Docker's default), unless this process cannot
 * raise its hard limit that far (no CAP_SYS_RESOURCE: sandboxes; or `userNamespace`, rootless, where
 * the capability does not cover rlimits, which are the host's), in which case its own hard limit.
 * Inputs are /proc/self/status and /proc/self/limits.
 */
export function nofileLimit(status: string, limits: string, userNamespace = false): number {
  const capEff = /^CapEff:\s*([0-9a-f]+)/mu.exec(status)?.[1];
  if (!userNamespace && capEff !== undefined && ((BigInt(`0x${capEff}`) >> CAP_SYS_RESOURCE) & 1n) === 1n) return NOFILE_LIMIT;
  const hard = /^Max open files\s+(\S+)\s+(\S+)/mu.exec(limits)?.[2];
  if (hard === undefined || hard === 'unlimited') return NOFILE_LIMIT;
  const value = Number(hard);
  return Number.isSafeInteger(value) && value > 0 ? Math.min(value, NOFILE_LIMIT) : NOFILE_LIMIT;
}

function envName(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/**
 * The process environment: `env`, then `secretEnv` (overriding same names), plus PATH (BuildKit's
 * default) and HOME (the user's) when absent. Later duplicates of a name win, in the first one's place.
 */
export function processEnv(env: readonly string[], secretEnv: Readonly<Record<string, string>>, home: string): string[] {
  const byName = new Map<string, string>();
  for (const entry of env) byName.set(envName(entry), entry);
  for (const [name, value] of Object.entries(secretEnv)) byName.set(name, `${name}=${value}`);
  if (!byName.has('PATH')) byName.set('PATH', DEFAULT_PATH);
  if (!byName.has('HOME')) byName.set('HOME', `HOME=${home}`);
  return [...byName.values()];
}

/** /etc/hosts: localhost and the hostname on the loopback addresses, then `--add-host` entries. */
export function hostsFileContent(hostname: string, extraHosts: readonly { readonly host: string; readonly ip: string }[] = []): string {
  const lines = [`127.0.0.1\tlocalhost ${hostname}`, '::1\tlocalhost ip6-localhost ip6-loopback'];
  for (const { host, ip } of extraHosts) lines.push(`${ip}\t${host}`);
  return `${lines.join('\n')}\n`;
}

export const DEFAULT_NAMESERVERS: readonly string[] = ['8.8.8.8', '8.8.4.4'];

function isLoopbackNameserver(line: string): boolean {
  const match = /^\s*nameserver\s+(\S+)/u.exec(line);
  if (match?.[1] === undefined) return false;
  const address = match[1];
  return address.startsWith('127.') || address === '::1' || address === '0:0:0:0:0:0:0:1';
}

/**
 * /etc/resolv.conf from the host's. With host networking it is copied as is. With the default
 * network, `nameserver` (slirp's DNS forwarder, which asks the host's resolvers) replaces the host's
 * nameservers; search and options lines are kept. With none, loopback nameservers (systemd-resolved's
 * 127.0.0.53, …) cannot be reached, so they are dropped, and public defaults are used when none remain
 * (as Docker does). No host file: the defaults.
 */
export function resolvConfContent(hostContent: string | undefined, network: NetworkMode, nameserver?: string): string {
  const defaults = DEFAULT_NAMESERVERS.map((ns) => `nameserver ${ns}`);
  if (network === 'default' && nameserver !== undefined) {
    const kept = (hostContent ?? '').split('\n').filter((line) => line.trim() !== '' && !/^\s*nameserver\s/u.test(line));
    return `${[...kept, `nameserver ${nameserver}`].join('\n')}\n`;
  }
  if (hostContent === undefined) return `${defaults.join('\n')}\n`;
  if (network === 'host') return hostContent.endsWith('\n') || hostContent === '' ? hostContent : `${hostContent}\n`;
  const lines = hostContent.split('\n').filter((line) => !isLoopbackNameserver(line));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (!lines.some((line) => /^\s*nameserver\s/u.test(line))) lines.push(...defaults);
  return `${lines.join('\n')}\n`;
}

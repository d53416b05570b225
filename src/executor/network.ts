/**
 * The network of a RUN step in the `default` mode: a network namespace of its own with outbound
 * access through slirp4netns, from which the host's loopback cannot be reached.
 *
 * slirp4netns's `--disable-host-loopback` only refuses the 10.0.2.2 alias; a packet crafted with
 * CAP_NET_RAW (Docker's default set has it) and written straight to slirp's tap device with
 * destination 127.0.0.1 is still connected by libslirp to the host's loopback. So the tap is not in
 * the step's namespace: each step gets two namespaces,
 *
 *   step (eth0 10.0.2.101) ──veth── router (vr; tap0 10.0.2.100, slirp4netns) ── host sockets
 *
 * and the router's kernel forwards the step's packets. The kernel drops a packet to 127.0.0.0/8
 * arriving on a non-loopback device as a martian (route_localnet is off in the router, which the
 * step cannot change), and forwards no broadcast; slirp refuses 10.0.2.2. The router answers ARP for
 * the slirp side (10.0.2.2 gateway, 10.0.2.3 DNS) by proxy ARP, so no NAT is needed.
 *
 * Namespaces are held by file descriptors of this process (close-on-exec), not by bind mounts, and
 * slirp4netns exits when its `--exit-fd` peer closes: a build killed with SIGKILL leaves no
 * namespace and no slirp4netns process behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { open, stat, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { StagecraftError } from '../core/index.js';
import { Disposer } from '../util/disposer.js';
import { runProcess } from '../util/process.js';

/** A network namespace for one container; disposing it releases every process and namespace made for it. */
export interface NetworkNamespace extends AsyncDisposable {
  /** A path runc can open to join the namespace (`linux.namespaces[].path`). */
  readonly path: string;
  /** The nameserver the step's /etc/resolv.conf names (slirp's DNS forwarder). */
  readonly nameserver: string;
}

/** Makes a fresh namespace per container. `create` releases everything it made when it rejects. */
export interface NetworkProvider {
  create(signal: AbortSignal): Promise<NetworkNamespace>;
}

export interface SlirpNetworkOptions {
  readonly slirpPath?: string | undefined;
  readonly unsharePath?: string | undefined;
  readonly nsenterPath?: string | undefined;
  /** MTU of the tap and veth devices. */
  readonly mtu?: number | undefined;
  /** How long slirp4netns may take to configure the tap device. */
  readonly readyTimeoutMs?: number | undefined;
}

/** slirp4netns's fixed addresses (slirp4netns(1), "--configure"). */
export const SLIRP_GATEWAY = '10.0.2.2';
export const SLIRP_NAMESERVER = '10.0.2.3';
const STEP_ADDRESS = '10.0.2.101';
const STEP_DEVICE = 'eth0';
const ROUTER_DEVICE = 'vr';
const TAP_DEVICE = 'tap0';

export function slirpMissing(slirpPath: string, cause?: unknown): StagecraftError {
  return new StagecraftError('EXTERNAL_TOOL', `cannot run ${slirpPath}: program not found`, {
    hint: 'RUN steps get their own network through slirp4netns: install it (Debian/Ubuntu: apt-get install slirp4netns), or build with --network=none (no network in RUN steps)',
    cause,
  });
}

export function createSlirpNetwork(options: SlirpNetworkOptions = {}): NetworkProvider {
  const settings = {
    slirpPath: options.slirpPath ?? 'slirp4netns',
    unsharePath: options.unsharePath ?? 'unshare',
    nsenterPath: options.nsenterPath ?? 'nsenter',
    mtu: options.mtu ?? 65_520,
    readyTimeoutMs: options.readyTimeoutMs ?? 10_000,
  };
  return {
    async create(signal: AbortSignal): Promise<NetworkNamespace> {
      signal.throwIfAborted();
      const resources = new Disposer();
      try {
        const made = await Promise.allSettled([newNamespace(settings.unsharePath, signal), newNamespace(settings.unsharePath, signal)]);
        for (const outcome of made) if (outcome.status === 'fulfilled') resources.use(outcome.value);
        const [step, router] = made.map((outcome) => {
          if (outcome.status === 'rejected') throw outcome.reason;
          return outcome.value;
        });
        if (step === undefined || router === undefined) throw new Error('two namespaces expected');
        resources.use(await startSlirp(settings.unsharePath, settings.slirpPath, router.path, settings.mtu, settings.readyTimeoutMs, signal));
        await configure(settings.nsenterPath, step.path, [
          `ip link add ${STEP_DEVICE} type veth peer name ${ROUTER_DEVICE} netns "$1"`,
          'ip link set lo up',
          `ip link set ${STEP_DEVICE} mtu ${settings.mtu} up`,
          `ip addr add ${STEP_ADDRESS}/24 dev ${STEP_DEVICE}`,
          `ip route add default via ${SLIRP_GATEWAY} dev ${STEP_DEVICE}`,
        ], router.path, signal);
        await configure(settings.nsenterPath, router.path, [
          `ip link set ${ROUTER_DEVICE} mtu ${settings.mtu} up`,
          `ip route add ${STEP_ADDRESS}/32 dev ${ROUTER_DEVICE}`,
          'echo 0 > /proc/sys/net/ipv4/conf/all/route_localnet',
          `echo 1 > /proc/sys/net/ipv4/conf/${ROUTER_DEVICE}/proxy_arp`,
          `echo 1 > /proc/sys/net/ipv4/conf/${TAP_DEVICE}/proxy_arp`,
          'echo 1 > /proc/sys/net/ipv4/ip_forward',
        ], undefined, signal);
        signal.throwIfAborted();
        const owned = resources;
        return { path: step.path, nameserver: SLIRP_NAMESERVER, [Symbol.asyncDispose]: () => owned.dispose() };
      } catch (error) {
        await resources.dispose();
        throw error;
      }
    },
  };
}

interface HeldNamespace extends AsyncDisposable {
  readonly path: string;
}

/**
 * A new, empty network namespace held by an fd of this process. A short-lived `unshare --net`
 * process makes it; once it has reported (it unshares before it runs its command) its namespace is
 * opened and checked to differ from ours, and the process is ended. The path names our fd, so no
 * later pid reuse can swap the namespace.
 */
async function newNamespace(unsharePath: string, signal: AbortSignal): Promise<HeldNamespace> {
  const own = await stat('/proc/self/ns/net');
  // `cat` holds the namespace until its stdin closes, which also happens if this process dies.
  const holder = spawn(unsharePath, ['--net', '--', 'sh', '-c', 'echo ready; exec cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = exitOf(holder);
  const stderr: Buffer[] = [];
  holder.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  holder.stdin?.on('error', () => {
    // EPIPE when the holder is already gone: ending its stdin is only a release signal
  });
  let handle: FileHandle | undefined;
  try {
    const ready = await firstData(holder.stdout, exited, signal);
    if (!ready) throw unshareFailure(unsharePath, await exited, Buffer.concat(stderr).toString('utf8').trim());
    if (holder.pid === undefined) throw new Error('unshare has no pid');
    handle = await open(`/proc/${holder.pid}/ns/net`, 'r');
    const opened = await handle.stat();
    if (opened.ino === own.ino && opened.dev === own.dev) throw new Error('unshare --net reported ready in the host network namespace');
  } catch (error) {
    await handle?.close();
    holder.kill('SIGKILL');
    await exited;
    throw error;
  } finally {
    holder.stdin?.end();
  }
  await exited;
  const held = handle;
  return { path: `/proc/${process.pid}/fd/${held.fd}`, [Symbol.asyncDispose]: () => held.close() };
}

/**
 * slirp4netns for the router namespace: it creates and configures the tap device there, reports on
 * `--ready-fd`, and exits when `--exit-fd` closes (disposal, or this process dying).
 */
async function startSlirp(unsharePath: string, slirpPath: string, routerPath: string, mtu: number, readyTimeoutMs: number, signal: AbortSignal): Promise<AsyncDisposable> {
  // In a private mount namespace of its own: slirp4netns's `--enable-sandbox` changes mounts, and run
  // in the host's mount namespace that reaches shared mounts such as `ip netns`'s /run/netns/NAME
  // (they were unmounted on the host, so named network namespaces vanished under their users).
  const child = spawn(
    unsharePath,
    ['--mount', '--propagation', 'private', '--', slirpPath, '--configure', `--mtu=${mtu}`, '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp', '--ready-fd=3', '--exit-fd=4', '--netns-type=path', routerPath, TAP_DEVICE],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] },
  );
  const exited = exitOf(child);
  const stderr: Buffer[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exitPipe = child.stdio[4] as Readable | null;
  const stop = async (): Promise<void> => {
    exitPipe?.destroy();
    const timer = new AbortController();
    const done = await Promise.race([exited.then(() => true), sleep(2_000, false, { signal: timer.signal }).catch(() => false)]);
    timer.abort();
    if (!done) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  try {
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(readyTimeoutMs)]);
    const ready = await firstData(child.stdio[3] as Readable | null, exited, timeout);
    if (!ready) {
      const status = await exited;
      if (status.error?.code === 'ENOENT') throw unshareFailure(unsharePath, status, '');
      // unshare(1) exits 127 when it cannot find the program it should run.
      if (status.code === 127) throw slirpMissing(slirpPath);
      const message = Buffer.concat(stderr).toString('utf8').trim();
      // Rootless, the tun device is opened as the user: Debian's udev makes it 0666, some hosts 0600.
      const tunDenied = /\/dev\/net\/tun.*Permission denied/u.test(message);
      throw new StagecraftError('EXTERNAL_TOOL', `slirp4netns could not set up the network of a RUN step: ${message || `exit status ${status.code ?? status.signal ?? '?'}`}`, {
        hint: tunDenied
          ? 'the user cannot open /dev/net/tun: as root, chmod 0666 /dev/net/tun (the usual mode; a udev rule KERNEL=="tun", MODE="0666" keeps it), or build with --network=none'
          : 'check that slirp4netns works here (it needs /dev/net/tun), or build with --network=none',
      });
    }
  } catch (error) {
    await stop();
    if (signal.aborted) throw signal.reason;
    if (error instanceof Error && error.name === 'TimeoutError') {
      throw new StagecraftError('EXTERNAL_TOOL', `slirp4netns did not set up the network of a RUN step within ${readyTimeoutMs} ms`, { hint: 'check that slirp4netns works here, or build with --network=none' });
    }
    throw error;
  }
  return { [Symbol.asyncDispose]: stop };
}

/** Runs a fixed script in a namespace (`$1` is `arg`): no input of the Dockerfile reaches it. */
async function configure(nsenterPath: string, namespace: string, commands: readonly string[], arg: string | undefined, signal: AbortSignal): Promise<void> {
  const result = await runProcess(nsenterPath, [`--net=${namespace}`, '--', 'sh', '-ec', commands.join('\n'), 'sh', ...(arg !== undefined ? [arg] : [])], { signal });
  if (result.code !== 0) {
    throw new StagecraftError('EXTERNAL_TOOL', `cannot configure the network namespace of a RUN step: ${result.stderr.trim() || `exit status ${result.code}`}`, {
      hint: 'RUN steps need root and iproute2 (ip) for their network; or build with --network=none',
    });
  }
}

interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: NodeJS.ErrnoException | undefined;
}

/** Settles once the child has exited (or could not be started); never rejects. */
function exitOf(child: ChildProcess): Promise<ExitStatus> {
  return new Promise<ExitStatus>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signalName) => resolve({ code, signal: signalName }));
  });
}

/** True once `stream` yields data; false if the process exits (or the stream ends) first. Rejects on abort. */
async function firstData(stream: Readable | null, exited: Promise<ExitStatus>, signal: AbortSignal): Promise<boolean> {
  if (stream === null) return false;
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await Promise.race([
      once(stream, 'data', { signal: controller.signal }).then(() => true),
      once(stream, 'end', { signal: controller.signal }).then(() => false),
      exited.then(() => false),
      new Promise<never>((_resolve, reject) => {
        if (signal.aborted) reject(signal.reason);
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
      }),
    ]);
  } finally {
    signal.removeEventListener('abort', onAbort);
    controller.abort();
  }
}

function unshareFailure(unsharePath: string, status: ExitStatus, stderr: string): StagecraftError {
  if (status.error?.code === 'ENOENT') {
    return new StagecraftError('EXTERNAL_TOOL', `cannot run ${unsharePath}: program not found`, { hint: 'install util-linux (unshare), or build with --network=none', cause: status.error });
  }
  const how = status.code !== null ? `exited with ${status.code}` : `was killed by ${status.signal ?? 'a signal'}`;
  return new StagecraftError('EXTERNAL_TOOL', `cannot create a network namespace: ${unsharePath} ${how}${stderr !== '' ? `: ${stderr}` : ''}`, {
    hint: 'RUN steps need root for their network namespace; or build with --network=none',
  });
}

/**
 * RUN step networking against real runc and slirp4netns (root): the default network reaches the
 * host's other addresses but not its loopback (not through 10.0.2.2, not with raw packets crafted
 * inside the namespace), `none` has no way out, `host` is the host's namespace. Every slirp4netns
 * process and namespace made for a step is gone when the step settles, also after an abort.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStagecraftError } from '../../src/core/index.js';
import { createRuncExecutor, createSlirpNetwork, type ExecSpec, type Executor } from '../../src/executor/index.js';
import { makeBusyboxRootfs } from '../helpers/base-image.js';

/** The first non-loopback IPv4 address of this host. */
function hostAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) if (address.family === 'IPv4' && !address.internal) return address.address;
  }
  return undefined;
}

/** A TCP server that answers `reply` and counts its connections. */
async function listen(host: string, reply: string): Promise<{ server: Server; port: number; connections: () => number }> {
  let count = 0;
  const server = createServer((socket) => {
    count++;
    socket.on('error', () => undefined);
    socket.end(reply);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  return { server, port: address.port, connections: () => count };
}

/** slirp4netns processes started for this process's namespaces (their target is one of our fds). */
function ourSlirps(): string[] {
  const found: string[] = [];
  for (const pid of spawnSync('pgrep', ['-x', 'slirp4netns'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l !== '')) {
    const cmdline = spawnSync('cat', [`/proc/${pid}/cmdline`], { encoding: 'utf8' }).stdout.replaceAll('\0', ' ');
    if (cmdline.includes(`/proc/${process.pid}/fd/`)) found.push(`${pid}: ${cmdline}`);
  }
  return found;
}

/** The network namespaces this process holds open. */
async function heldNamespaces(): Promise<string[]> {
  const held: string[] = [];
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target.startsWith('net:[')) held.push(target);
  }
  return held;
}

const external = hostAddress();

describe('RUN step networks (runc, slirp4netns)', () => {
  let base: string;
  let rootfs: string;
  let executor: Executor;
  let loopback: Awaited<ReturnType<typeof listen>>;
  let outside: Awaited<ReturnType<typeof listen>> | undefined;
  let namespacesBefore: string[];

  before(async () => {
    base = await mkdtemp(join(tmpdir(), 'stagecraft-net-'));
    rootfs = join(base, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    executor = createRuncExecutor({ stateDir: join('/run', `stagecraft-net-test-${process.pid}`), runDir: join(base, 'run') });
    loopback = await listen('127.0.0.1', 'LOOPBACK-SERVICE\n');
    if (external !== undefined) outside = await listen(external, 'OUTSIDE-SERVICE\n');
    namespacesBefore = await heldNamespaces();
  });
  after(async () => {
    loopback.server.close();
    outside?.server.close();
    await rm(base, { recursive: true, force: true });
    await rm(join('/run', `stagecraft-net-test-${process.pid}`), { recursive: true, force: true });
  });

  async function run(script: string, network: ExecSpec['network'], signal = new AbortController().signal, using = executor): Promise<string> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const result = await using.run({ rootfs, args: ['/bin/sh', '-c', script], env: [], cwd: '/', user: '', network, mounts: [] }, { stdout: (c) => out.push(c), stderr: (c) => err.push(c) }, signal);
    assert.equal(result.exitCode, 0, Buffer.concat(err).toString('utf8'));
    return Buffer.concat(out).toString('utf8');
  }

  /** `nc` to HOST PORT; prints the answer or `NAME=failed`. */
  const probe = (name: string, host: string, port: number): string => `nc -w 3 ${host} ${port} </dev/null || echo ${name}=failed`;

  async function assertReleased(): Promise<void> {
    assert.deepEqual(ourSlirps(), [], 'no slirp4netns process is left');
    assert.deepEqual(await heldNamespaces(), namespacesBefore, 'no network namespace is held');
  }

  it('default: own namespace (lo, eth0), slirp DNS, the host loopback unreachable directly and through 10.0.2.2', { timeout: 60_000 }, async () => {
    const before = loopback.connections();
    const out = await run(
      ['ls /sys/class/net', 'grep nameserver /etc/resolv.conf', probe('direct', '127.0.0.1', loopback.port), probe('gateway', '10.0.2.2', loopback.port)].join('; '),
      'default',
    );
    assert.match(out, /^eth0\nlo\nnameserver 10\.0\.2\.3\n/);
    assert.match(out, /direct=failed/);
    assert.match(out, /gateway=failed/);
    assert.doesNotMatch(out, /LOOPBACK-SERVICE/);
    assert.equal(loopback.connections(), before, 'the loopback service saw no connection');
    await assertReleased();
  });

  it('default: outbound works: a service on the host\'s non-loopback address answers', { timeout: 60_000, skip: external === undefined && 'no non-loopback IPv4 address' }, async () => {
    assert.ok(outside !== undefined && external !== undefined);
    const out = await run(`${probe('outside', external, outside.port)}; ${probe('loopback-via-address', external, loopback.port)}`, 'default');
    assert.match(out, /OUTSIDE-SERVICE/);
    // The loopback-bound service is not listening on the external address either.
    assert.match(out, /loopback-via-address=failed/);
    await assertReleased();
  });

  it('default: the fds holding the namespaces stay out of the step (only 0-2 are open)', { timeout: 60_000 }, async () => {
    // PID 1 is the step's shell, waiting for ls: what it holds is what the step was given.
    const out = await run('ls /proc/1/fd; ls -l /proc/1/fd > /tmp/fds; grep -c "net:" /tmp/fds || true', 'default');
    assert.equal(out, '0\n1\n2\n0\n');
    await assertReleased();
  });

  it('none: only lo, no way out', { timeout: 60_000 }, async () => {
    const target = external ?? '10.0.2.2';
    const port = outside?.port ?? loopback.port;
    const out = await run(`ls /sys/class/net; ${probe('outside', target, port)}`, 'none');
    assert.match(out, /^lo\n/);
    assert.match(out, /outside=failed/);
    assert.doesNotMatch(out, /OUTSIDE-SERVICE/);
    await assertReleased();
  });

  it('host: the host\'s namespace, where the loopback service answers (what --allow network.host grants)', { timeout: 60_000 }, async () => {
    const out = await run(probe('direct', '127.0.0.1', loopback.port), 'host');
    assert.equal(out, 'LOOPBACK-SERVICE\n');
  });

  it('default: raw packets to 127.0.0.1 written straight to the link (CAP_NET_RAW) never reach the host loopback', { timeout: 60_000, skip: spawnSync('python3', ['-c', 'pass']).status !== 0 && 'python3 is needed to craft packets' }, async () => {
    // A RUN step has CAP_NET_RAW (Docker's default set): it can write any frame to its interface.
    // Here a root process in the step's namespace does exactly that with an AF_PACKET socket.
    const script = join(base, 'raw-syn.py');
    await writeFile(script, RAW_SYN);
    const target = createSlirpNetwork();
    const namespace = await target.create(new AbortController().signal);
    try {
      const send = (address: string, port: number): string => {
        const result = spawnSync('nsenter', [`--net=${namespace.path}`, '--', 'python3', script, address, String(port)], { encoding: 'utf8', timeout: 20_000 });
        assert.equal(result.status, 0, result.stderr);
        return result.stdout;
      };
      const before = loopback.connections();
      if (external !== undefined && outside !== undefined) {
        // Control: the same crafted SYN to a reachable service is answered (SYN-ACK), so the probe works.
        assert.match(send(external, outside.port), /answered/);
      }
      assert.match(send('127.0.0.1', loopback.port), /^silent/);
      assert.match(send('10.0.2.255', loopback.port), /^silent/);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(loopback.connections(), before, 'the loopback service saw no connection');
    } finally {
      await namespace[Symbol.asyncDispose]();
    }
    await assertReleased();
  });

  it('an aborted step releases its slirp4netns process and namespaces', { timeout: 60_000 }, async () => {
    const controller = new AbortController();
    const out: Buffer[] = [];
    const running = executor.run(
      { rootfs, args: ['/bin/sh', '-c', 'echo started; exec sleep 60'], env: [], cwd: '/', user: '', network: 'default', mounts: [] },
      { stdout: (chunk) => {
        out.push(chunk);
        if (Buffer.concat(out).toString().includes('started')) {
          assert.equal(ourSlirps().length, 1, 'the step runs with one slirp4netns');
          controller.abort(new Error('stop'));
        }
      }, stderr: () => undefined },
      controller.signal,
    );
    await assert.rejects(running, /stop/);
    await assertReleased();
  });

  it('a namespace set-up aborted at any point releases every process and namespace it made', { timeout: 120_000 }, async () => {
    const provider = createSlirpNetwork();
    let aborted = 0;
    for (let i = 0; i < 24; i++) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new Error('stop')), i * 5);
      try {
        const namespace = await provider.create(controller.signal);
        await namespace[Symbol.asyncDispose]();
      } catch (error) {
        assert.equal((error as Error).message, 'stop');
        aborted++;
      } finally {
        clearTimeout(timer);
      }
    }
    assert.ok(aborted > 0, 'some set-ups were aborted midway');
    const helpers = spawnSync('ps', ['-o', 'comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).stdout.split('\n');
    assert.deepEqual(helpers.filter((name) => ['unshare', 'cat', 'sh', 'nsenter', 'ip', 'slirp4netns'].includes(name)), []);
    await assertReleased();
  });

  it('the host\'s named network namespaces (ip netns) stay mounted: slirp4netns\'s sandbox runs in a private mount namespace', { timeout: 60_000 }, async () => {
    const name = `stagecraft-probe-${process.pid}`;
    const mounted = (): boolean => spawnSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }).stdout.includes(`/run/netns/${name} `);
    assert.equal(spawnSync('ip', ['netns', 'add', name]).status, 0, 'ip netns add');
    try {
      assert.ok(mounted());
      const namespace = await createSlirpNetwork().create(AbortSignal.timeout(30_000));
      await namespace[Symbol.asyncDispose]();
      assert.ok(mounted(), `/run/netns/${name} is still mounted on the host`);
      assert.equal(spawnSync('ip', ['netns', 'exec', name, 'true']).status, 0, 'and usable');
    } finally {
      spawnSync('ip', ['netns', 'delete', name]);
    }
  });

  it('a missing slirp4netns is an EXTERNAL_TOOL error naming the package; nothing is left', { timeout: 60_000 }, async () => {
    const missing = createRuncExecutor({ stateDir: join('/run', `stagecraft-net-test-${process.pid}`), runDir: join(base, 'run'), network: createSlirpNetwork({ slirpPath: '/nonexistent/slirp4netns' }) });
    await assert.rejects(run('true', 'default', undefined, missing), (error: unknown) => {
      assert.ok(isStagecraftError(error), String(error));
      assert.equal(error.code, 'EXTERNAL_TOOL');
      assert.match(error.message, /slirp4netns/);
      assert.match(error.hint ?? '', /apt-get install slirp4netns/);
      return true;
    });
    await assertReleased();
  });
});

/** Sends one TCP SYN to ADDRESS:PORT through eth0's neighbour 10.0.2.2 with an AF_PACKET socket; prints whether a SYN-ACK came back. */
const RAW_SYN = String.raw`
import socket, struct, sys, time, subprocess
def csum(data):
    if len(data) % 2: data += b'\0'
    total = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xffff); total += total >> 16
    return ~total & 0xffff
dst, port = sys.argv[1], int(sys.argv[2])
src = subprocess.run(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], capture_output=True, text=True).stdout.split()[3].split('/')[0]
try:
    socket.create_connection(('10.0.2.2', 9), timeout=1).close()
except OSError:
    pass
neigh = subprocess.run(['ip', 'neigh', 'show', '10.0.2.2', 'dev', 'eth0'], capture_output=True, text=True).stdout.split()
gateway = bytes.fromhex(neigh[neigh.index('lladdr') + 1].replace(':', ''))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(('eth0', 0))
mine = s.getsockname()[4]
sport = 40000 + (int(time.time() * 1000) % 20000)
tcp = struct.pack('!HHLLBBHHH', sport, port, 1000, 0, 5 << 4, 0x02, 65000, 0, 0)
pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack('!BBH', 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack('!H', csum(pseudo + tcp)) + tcp[18:]
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, socket.inet_aton(src), socket.inet_aton(dst))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
s.send(gateway + mine + b'\x08\x00' + ip + tcp)
s.settimeout(0.5)
end = time.time() + 3
while time.time() < end:
    try:
        frame = s.recv(4096)
    except socket.timeout:
        continue
    if frame[23] == 6 and struct.unpack('!H', frame[36:38])[0] == sport and frame[47] & 0x12 == 0x12:
        print('answered'); sys.exit(0)
print('silent')
`;

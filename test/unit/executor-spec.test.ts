/**
 * The OCI runtime spec for a RUN step (structure checked field by field), the process environment,
 * and the generated /etc/hosts and /etc/resolv.conf.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_CAPABILITIES,
  DEFAULT_SHM_SIZE,
  ULIMIT_NAMES,
  cgroupsPath,
  DEFAULT_PATH,
  MASKED_PATHS,
  READONLY_PATHS,
  generateRuntimeSpec,
  hostsFileContent,
  nofileLimit,
  ociBind,
  ociInlineFile,
  ociSecret,
  ociSocket,
  ociTmpfs,
  processEnv,
  resolvConfContent,
  type RuntimeSpecInput,
} from '../../src/executor/index.js';

const base: RuntimeSpecInput = {
  rootfs: '/var/lib/stagecraft/snapshots/7/merged',
  readonlyRootfs: false,
  args: ['/bin/sh', '-c', 'make'],
  env: ['PATH=/bin', 'HOME=/root'],
  cwd: '/src',
  uid: 1000,
  gid: 1000,
  additionalGids: [4, 100],
  hostname: 'builder',
  network: 'host',
  securityInsecure: false,
  hostsFile: '/run/x/hosts',
  resolvConfFile: '/run/x/resolv.conf',
  mounts: [],
  nofile: 1_048_576,
};

describe('generateRuntimeSpec', () => {
  it('describes the process: args, env, cwd, user with supplementary groups, no terminal, new privileges allowed', () => {
    const spec = generateRuntimeSpec(base);
    assert.equal(spec.ociVersion, '1.0.2');
    assert.deepEqual(spec.process.args, ['/bin/sh', '-c', 'make']);
    assert.deepEqual(spec.process.env, ['PATH=/bin', 'HOME=/root']);
    assert.equal(spec.process.cwd, '/src');
    assert.deepEqual(spec.process.user, { uid: 1000, gid: 1000, umask: 0o022, additionalGids: [4, 100] });
    assert.equal(spec.process.terminal, false);
    assert.equal(spec.process.noNewPrivileges, false);
    assert.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1_048_576, soft: 1_048_576 }]);
    assert.deepEqual(spec.root, { path: base.rootfs, readonly: false });
    assert.equal(spec.hostname, 'builder');
  });

  it('omits additionalGids when there are none', () => {
    const spec = generateRuntimeSpec({ ...base, additionalGids: [] });
    assert.deepEqual(spec.process.user, { uid: 1000, gid: 1000, umask: 0o022 });
  });

  it("gives Docker's default capabilities in the bounding, effective and permitted sets", () => {
    const { capabilities } = generateRuntimeSpec(base).process;
    assert.equal(DEFAULT_CAPABILITIES.length, 14);
    for (const set of [capabilities.bounding, capabilities.effective, capabilities.permitted]) assert.deepEqual(set, DEFAULT_CAPABILITIES);
    assert.ok(!capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.ok(capabilities.bounding.includes('CAP_CHOWN') && capabilities.bounding.includes('CAP_NET_BIND_SERVICE'));
  });

  it('shares the host network namespace for host networking and unshares it for none', () => {
    assert.deepEqual(generateRuntimeSpec(base).linux.namespaces.map((ns) => ns.type), ['pid', 'ipc', 'uts', 'mount']);
    assert.deepEqual(generateRuntimeSpec({ ...base, network: 'none' }).linux.namespaces.map((ns) => ns.type), ['pid', 'ipc', 'uts', 'mount', 'network']);
  });

  it('joins the prepared namespace for the default network, and refuses to make one without it', () => {
    const spec = generateRuntimeSpec({ ...base, network: 'default', networkPath: '/proc/42/fd/7' });
    assert.deepEqual(spec.linux.namespaces.at(-1), { type: 'network', path: '/proc/42/fd/7' });
    assert.throws(() => generateRuntimeSpec({ ...base, network: 'default' }), /networkPath/);
  });

  it('mounts /proc, /dev (+pts, shm, mqueue), read-only /sys and cgroups, and the generated resolv.conf and hosts read-only', () => {
    const spec = generateRuntimeSpec(base);
    const byDestination = new Map(spec.mounts.map((m) => [m.destination, m]));
    assert.deepEqual(spec.mounts.map((m) => m.destination), ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/resolv.conf', '/etc/hosts']);
    assert.equal(byDestination.get('/proc')?.type, 'proc');
    assert.equal(byDestination.get('/dev')?.type, 'tmpfs');
    assert.equal(byDestination.get('/dev/pts')?.type, 'devpts');
    assert.ok(byDestination.get('/dev/pts')?.options.includes('newinstance'));
    assert.equal(byDestination.get('/dev/shm')?.type, 'tmpfs');
    assert.equal(byDestination.get('/dev/mqueue')?.type, 'mqueue');
    assert.equal(byDestination.get('/sys')?.type, 'sysfs');
    assert.ok(byDestination.get('/sys')?.options.includes('ro'));
    assert.equal(byDestination.get('/sys/fs/cgroup')?.type, 'cgroup');
    assert.ok(byDestination.get('/sys/fs/cgroup')?.options.includes('ro'));
    assert.deepEqual(byDestination.get('/etc/hosts'), { destination: '/etc/hosts', type: 'bind', source: '/run/x/hosts', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
    assert.equal(byDestination.get('/etc/resolv.conf')?.source, '/run/x/resolv.conf');
    assert.ok(byDestination.get('/etc/resolv.conf')?.options.includes('ro'));
  });

  it("masks runc's default paths, denies devices beyond runc's defaults", () => {
    const { linux } = generateRuntimeSpec(base);
    assert.deepEqual(linux.maskedPaths, MASKED_PATHS);
    assert.ok(linux.maskedPaths.includes('/proc/kcore') && linux.maskedPaths.includes('/sys/firmware'));
    assert.deepEqual(linux.readonlyPaths, READONLY_PATHS);
    assert.ok(linux.readonlyPaths.includes('/proc/sys'));
    assert.deepEqual(linux.resources.devices, [{ allow: false, access: 'rwm' }]);
  });

  it('appends the step mounts after the defaults; one at /etc/hosts replaces the generated file', () => {
    const spec = generateRuntimeSpec({
      ...base,
      mounts: [ociBind('/ctx', '/src', true), ociTmpfs('/tmp/t', 1024), ociSecret('/run/x/p/s0', '/run/secrets/token'), ociSocket('/run/x/p/a1', '/run/ssh.sock'), ociBind('/my/hosts', '/etc//hosts', true)],
    });
    const tail = spec.mounts.slice(-5);
    assert.deepEqual(tail[0], { destination: '/src', type: 'bind', source: '/ctx', options: ['rbind', 'ro'] });
    assert.deepEqual(tail[1], { destination: '/tmp/t', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'size=1024'] });
    assert.deepEqual(tail[2], { destination: '/run/secrets/token', type: 'bind', source: '/run/x/p/s0', options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
    assert.deepEqual(tail[3]?.options, ['rbind', 'rw', 'nosuid', 'nodev', 'noexec']);
    assert.deepEqual(spec.mounts.filter((m) => m.destination === '/etc/hosts').map((m) => m.source), ['/my/hosts']);
    assert.deepEqual(ociBind('/a', '/b', false).options, ['rbind', 'rw']);
    assert.deepEqual(ociTmpfs('/t', undefined).options, ['nosuid', 'nodev']);
  });

  it('read-only rootfs sets root.readonly', () => {
    assert.equal(generateRuntimeSpec({ ...base, readonlyRootfs: true }).root.readonly, true);
  });

  it('insecure security: all capabilities, nothing masked, writable /sys and cgroups, all devices', () => {
    const spec = generateRuntimeSpec({ ...base, securityInsecure: true });
    assert.ok(spec.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
    assert.ok(spec.process.capabilities.effective.includes('CAP_NET_ADMIN'));
    assert.deepEqual(spec.linux.maskedPaths, []);
    assert.deepEqual(spec.linux.readonlyPaths, []);
    assert.ok(spec.mounts.find((m) => m.destination === '/sys')?.options.includes('rw'));
    assert.ok(spec.mounts.find((m) => m.destination === '/sys/fs/cgroup')?.options.includes('rw'));
    assert.deepEqual(spec.linux.resources.devices, [{ allow: true, access: 'rwm' }]);
  });

  it('--shm-size sets the /dev/shm tmpfs size (default 64 MiB, as Docker)', () => {
    const shm = (input: RuntimeSpecInput): readonly string[] | undefined => generateRuntimeSpec(input).mounts.find((m) => m.destination === '/dev/shm')?.options;
    assert.ok(shm(base)?.includes(`size=${DEFAULT_SHM_SIZE}`));
    assert.ok(shm({ ...base, shmSize: 128 * 1024 * 1024 })?.includes('size=134217728'));
  });

  it('--ulimit adds rlimits; one for nofile replaces the default NOFILE', () => {
    assert.deepEqual(generateRuntimeSpec(base).process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 1_048_576, soft: 1_048_576 }]);
    const spec = generateRuntimeSpec({ ...base, ulimits: [{ name: 'nproc', soft: 100, hard: 200 }, { name: 'nofile', soft: 1024, hard: 2048 }] });
    assert.deepEqual(spec.process.rlimits, [{ type: 'RLIMIT_NOFILE', hard: 2048, soft: 1024 }, { type: 'RLIMIT_NPROC', hard: 200, soft: 100 }]);
    assert.deepEqual(Object.keys(ULIMIT_NAMES).sort(), ['core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack']);
    assert.throws(() => generateRuntimeSpec({ ...base, ulimits: [{ name: 'files', soft: 1, hard: 1 }] }), /unknown ulimit files/);
  });

  it('--memory/--cpu-* become linux.resources; --cgroup-parent the cgroupsPath (as BuildKit names it)', () => {
    const spec = generateRuntimeSpec({ ...base, cgroupsPath: '/ci/stagecraft/x', resources: { memory: 1024, memorySwap: -1, cpuShares: 512, cpuQuota: 50000, cpuPeriod: 100000, cpusetCpus: '0-1', cpusetMems: '0' } });
    assert.equal(spec.linux.cgroupsPath, '/ci/stagecraft/x');
    assert.deepEqual(spec.linux.resources, {
      devices: [{ allow: false, access: 'rwm' }],
      memory: { limit: 1024, swap: -1 },
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
    });
    const plain = generateRuntimeSpec(base);
    assert.ok(!('cgroupsPath' in plain.linux));
    assert.deepEqual(plain.linux.resources, { devices: [{ allow: false, access: 'rwm' }] });
    assert.equal(cgroupsPath(undefined, 'id1'), undefined);
    assert.equal(cgroupsPath('ci/builds/', 'id1'), '/ci/builds/stagecraft/id1');
    assert.equal(cgroupsPath('/ci', 'id1'), '/ci/stagecraft/id1');
    assert.equal(cgroupsPath('system.slice:ci:', 'id1'), 'system.slice:ci:id1');
    assert.throws(() => cgroupsPath('a/../..', 'id1'), /"\.\." in/);
  });

  it('is plain JSON (round-trips unchanged)', () => {
    const spec = generateRuntimeSpec({ ...base, mounts: [ociBind('/a', '/b', false)] });
    assert.deepEqual(JSON.parse(JSON.stringify(spec)), spec);
  });
});

describe('processEnv', () => {
  it('adds the default PATH and the user home when absent', () => {
    assert.deepEqual(processEnv(['A=1'], {}, '/home/app'), ['A=1', DEFAULT_PATH, 'HOME=/home/app']);
    assert.equal(DEFAULT_PATH, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });

  it('keeps PATH and HOME when given', () => {
    assert.deepEqual(processEnv(['PATH=/opt/bin', 'HOME=/x'], {}, '/root'), ['PATH=/opt/bin', 'HOME=/x']);
  });

  it('secret env values override same-named entries in place; later duplicates win', () => {
    assert.deepEqual(processEnv(['TOKEN=public', 'A=1', 'A=2'], { TOKEN: 's3cr=t', NEW: 'v' }, '/'), ['TOKEN=s3cr=t', 'A=2', 'NEW=v', DEFAULT_PATH, 'HOME=/']);
  });
});

describe('hostsFileContent', () => {
  it('maps localhost and the hostname to loopback, then the extra hosts', () => {
    assert.equal(hostsFileContent('builder'), '127.0.0.1\tlocalhost builder\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    assert.equal(
      hostsFileContent('h', [{ host: 'db', ip: '10.0.0.2' }]),
      '127.0.0.1\tlocalhost h\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.2\tdb\n',
    );
  });
});

describe('resolvConfContent', () => {
  const host = 'search corp.example\nnameserver 127.0.0.53\nnameserver 10.1.1.1\noptions edns0\n';

  it('copies the host file as is for host networking (loopback resolvers are reachable there)', () => {
    assert.equal(resolvConfContent(host, 'host'), host);
    assert.equal(resolvConfContent('nameserver 1.1.1.1', 'host'), 'nameserver 1.1.1.1\n');
  });

  it('drops loopback nameservers in a network namespace of its own', () => {
    assert.equal(resolvConfContent(host, 'none'), 'search corp.example\nnameserver 10.1.1.1\noptions edns0\n');
  });

  it("names slirp's DNS forwarder for the default network, keeping search and options", () => {
    assert.equal(resolvConfContent(host, 'default', '10.0.2.3'), 'search corp.example\noptions edns0\nnameserver 10.0.2.3\n');
    assert.equal(resolvConfContent(undefined, 'default', '10.0.2.3'), 'nameserver 10.0.2.3\n');
  });

  it('falls back to public nameservers when none remain or the host has no file', () => {
    assert.equal(resolvConfContent('nameserver 127.0.0.53\nnameserver ::1\n', 'none'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    assert.equal(resolvConfContent(undefined, 'host'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });
});

describe('nofileLimit', () => {
  const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 20000                files     \n';

  it('is 1048576 with CAP_SYS_RESOURCE', () => {
    assert.equal(nofileLimit('Name:\tnode\nCapEff:\t000001ffffffffff\n', limits), 1_048_576);
  });

  it("is this process's hard limit without CAP_SYS_RESOURCE (it cannot be raised)", () => {
    assert.equal(nofileLimit('CapEff:\t000001fffeffffff\n', limits), 20_000);
    assert.equal(nofileLimit('CapEff:\t0000000000000000\n', limits.replace('20000', '4000000')), 1_048_576);
  });

  it('defaults to 1048576 when /proc cannot be read', () => {
    assert.equal(nofileLimit('', ''), 1_048_576);
  });
});

describe('inline files', () => {
  it('a heredoc script is bound read-only but executable; secrets and sockets stay noexec', () => {
    const script = ociInlineFile('/run/x/f0', '/dev/pipes/EOF');
    assert.deepEqual(script, { destination: '/dev/pipes/EOF', type: 'bind', source: '/run/x/f0', options: ['rbind', 'ro', 'nosuid', 'nodev'] });
    assert.ok(ociSecret('/run/x/p/s0', '/s').options.includes('noexec'));
    assert.ok(ociSocket('/run/x/p/a1', '/a').options.includes('noexec'));
  });
});

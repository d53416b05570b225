/**
 * The default seccomp profile of a RUN step: an EPERM allowlist for the host's architectures,
 * argument rules for clone, clone3, personality and socket, and calls allowed only with the
 * capability that makes them safe; none at all for --security=insecure.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ALL_CAPABILITIES,
  boundingCapabilities,
  DEFAULT_CAPABILITIES,
  defaultSeccompProfile,
  generateRuntimeSpec,
  type OciSeccomp,
  type OciSyscall,
  type RuntimeSpecInput,
} from '../../src/executor/index.js';

const x64 = { arch: 'x64', kernelRelease: '6.1.0-18-amd64' };
const arm64 = { arch: 'arm64', kernelRelease: '5.15.0-1034-raspi' };

/** The rules that name `name`. */
function rules(profile: OciSeccomp, name: string): OciSyscall[] {
  return profile.syscalls.filter((rule) => rule.names.includes(name));
}

/** Allowed whatever the arguments. */
function allowed(profile: OciSeccomp, name: string): boolean {
  return rules(profile, name).some((rule) => rule.action === 'SCMP_ACT_ALLOW' && rule.args === undefined);
}

describe('defaultSeccompProfile', () => {
  const profile = defaultSeccompProfile(DEFAULT_CAPABILITIES, x64);

  it('denies every call it does not list with EPERM', () => {
    assert.equal(profile.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(profile.defaultErrnoRet, 1);
  });

  it('covers the compat ABIs of the host: x86_64 with i386 and x32, aarch64 with arm', () => {
    assert.deepEqual(profile.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(defaultSeccompProfile(DEFAULT_CAPABILITIES, arm64).architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it('allows what builds do: files, processes, threads, sockets, chroot (CAP_SYS_CHROOT is granted)', () => {
    for (const name of ['read', 'write', 'openat', 'execve', 'wait4', 'futex', 'mmap', 'rt_sigaction', 'getdents64', 'statx', 'fchownat', 'mknodat', 'setuid', 'unshare', 'chroot', 'connect', 'sendmsg', 'rseq', 'close_range', 'io_setup']) {
      assert.ok(allowed(profile, name), name);
    }
  });

  it('denies calls that reach beyond the container: keys, mounts, modules, reboot, clock, kexec, bpf, io_uring, userfaultfd, swap', () => {
    for (const name of ['keyctl', 'add_key', 'request_key', 'mount', 'umount2', 'pivot_root', 'init_module', 'finit_module', 'reboot', 'settimeofday', 'clock_settime', 'kexec_load', 'bpf', 'perf_event_open', 'io_uring_setup', 'userfaultfd', 'swapon', 'setns', 'open_by_handle_at', 'acct', 'syslog', 'kcmp', 'pidfd_getfd', 'iopl', 'vhangup', 'mbind', 'lookup_dcookie', 'fsopen', 'move_mount']) {
      assert.deepEqual(rules(profile, name), [], name);
    }
  });

  it('clone: only without CLONE_NEW* flags (masked compare on the flags argument); clone3 answers ENOSYS so libc falls back', () => {
    assert.deepEqual(rules(profile, 'clone'), [{ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e02_0000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] }]);
    assert.deepEqual(rules(profile, 'clone3'), [{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
    // s390 passes the flags second
    assert.equal(rules(defaultSeccompProfile(DEFAULT_CAPABILITIES, { arch: 's390x', kernelRelease: '6.1' }), 'clone')[0]?.args?.[0]?.index, 1);
  });

  it('personality: only the Linux, 32-bit and uname26 domains and the query; socket: anything but AF_VSOCK', () => {
    const values = rules(profile, 'personality').map((rule) => {
      assert.equal(rule.args?.length, 1);
      assert.equal(rule.args?.[0]?.op, 'SCMP_CMP_EQ');
      return rule.args?.[0]?.value;
    });
    assert.deepEqual(values, [0, 8, 0x20000, 0x20008, 0xffffffff]);
    assert.deepEqual(rules(profile, 'socket'), [{ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] }]);
  });

  it('architecture-specific calls only on their architecture', () => {
    assert.ok(allowed(profile, 'arch_prctl') && allowed(profile, 'modify_ldt'));
    assert.ok(!allowed(profile, 'set_tls'));
    const arm = defaultSeccompProfile(DEFAULT_CAPABILITIES, arm64);
    assert.ok(allowed(arm, 'set_tls') && allowed(arm, 'cacheflush'));
    assert.ok(!allowed(arm, 'arch_prctl') && !allowed(arm, 'modify_ldt'));
  });

  it('ptrace and process_vm_* only on kernels from 4.8 (a tracer could rewrite a checked call before)', () => {
    assert.ok(allowed(profile, 'ptrace') && allowed(profile, 'process_vm_readv'));
    const old = defaultSeccompProfile(DEFAULT_CAPABILITIES, { arch: 'x64', kernelRelease: '4.4.0-210-generic' });
    assert.ok(!allowed(old, 'ptrace') && !allowed(old, 'process_vm_writev'));
    assert.ok(allowed(defaultSeccompProfile(DEFAULT_CAPABILITIES, { arch: 'x64', kernelRelease: '10.0.1' }), 'ptrace'));
  });

  it('widens only with the capabilities held: CAP_SYS_ADMIN lifts the clone rule and allows mount; CAP_SYS_BOOT reboot; CAP_SYS_TIME the clock', () => {
    const admin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], x64);
    assert.ok(allowed(admin, 'mount') && allowed(admin, 'clone') && allowed(admin, 'clone3') && allowed(admin, 'setns'));
    assert.ok(rules(admin, 'clone3').every((rule) => rule.action === 'SCMP_ACT_ALLOW'));
    assert.ok(!allowed(admin, 'reboot') && !allowed(admin, 'settimeofday'));
    assert.ok(allowed(defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_BOOT'], x64), 'reboot'));
    assert.ok(allowed(defaultSeccompProfile(['CAP_SYS_TIME'], x64), 'clock_settime'));
    const none = defaultSeccompProfile([], x64);
    assert.ok(!allowed(none, 'chroot'), 'chroot follows CAP_SYS_CHROOT');
    const all = defaultSeccompProfile(ALL_CAPABILITIES, x64);
    for (const name of ['mount', 'reboot', 'init_module', 'bpf', 'perf_event_open', 'kcmp', 'iopl', 'syslog', 'acct', 'mbind', 'vhangup', 'open_by_handle_at']) assert.ok(allowed(all, name), name);
    // still an allowlist: calls no capability unlocks stay denied
    for (const name of ['keyctl', 'kexec_load', 'userfaultfd', 'io_uring_setup']) assert.deepEqual(rules(all, name), [], name);
  });

  it('is deterministic and lists no name twice among unconditional rules', () => {
    assert.deepEqual(defaultSeccompProfile(DEFAULT_CAPABILITIES, x64), profile);
    const names = profile.syscalls.filter((rule) => rule.args === undefined && rule.action === 'SCMP_ACT_ALLOW').flatMap((rule) => rule.names);
    assert.equal(new Set(names).size, names.length);
  });

  // Cost: since Linux 5.11 the kernel skips the filter for a syscall number whose verdict does not
  // depend on its arguments (its constant-action cache); a syscall with an argument rule runs the
  // whole BPF program (~600 instructions from libseccomp) every time. Measured here: a cached call
  // costs ~50 ns more than unfiltered, as under Docker's profile. So only the calls that need it
  // (as in Docker's profile) may carry an argument rule, never a call builds make often.
  it('argument rules only on clone, personality and socket: the calls a compile makes stay in the kernel cache', () => {
    const conditioned = new Set(profile.syscalls.filter((rule) => rule.args !== undefined).flatMap((rule) => rule.names));
    assert.deepEqual([...conditioned].sort(), ['clone', 'personality', 'socket']);
    // the most frequent calls of `make` + gcc (strace -c of the gcctest compile), and thread/process calls
    const hot = ['read', 'write', 'openat', 'close', 'newfstatat', 'fstat', 'lseek', 'readlink', 'mmap', 'munmap', 'mprotect', 'brk',
      'rt_sigaction', 'rt_sigprocmask', 'access', 'execve', 'wait4', 'vfork', 'pipe2', 'dup2', 'futex', 'getdents64', 'unlink', 'prlimit64'];
    for (const name of hot) {
      assert.ok(allowed(profile, name), `${name} is allowed unconditionally`);
      assert.ok(rules(profile, name).every((rule) => rule.args === undefined), `${name} has no argument rule`);
    }
  });
});

describe('generateRuntimeSpec seccomp', () => {
  const base: RuntimeSpecInput = {
    rootfs: '/r',
    readonlyRootfs: false,
    args: ['/bin/true'],
    env: [],
    cwd: '/',
    uid: 0,
    gid: 0,
    additionalGids: [],
    hostname: 'h',
    network: 'none',
    securityInsecure: false,
    hostsFile: '/x/hosts',
    resolvConfFile: '/x/resolv.conf',
    mounts: [],
    nofile: 1024,
    seccompHost: arm64,
  };

  it('applies the default profile for the granted capabilities and the given host', () => {
    assert.deepEqual(generateRuntimeSpec(base).linux.seccomp, defaultSeccompProfile(DEFAULT_CAPABILITIES, arm64));
  });

  it('defaults to this host', () => {
    const { seccompHost: _, ...rest } = base;
    assert.ok((generateRuntimeSpec(rest).linux.seccomp?.architectures.length ?? 0) > 0 || !['x64', 'arm64'].includes(process.arch));
  });

  it('/sys/fs/cgroup is among the read-only paths (runc leaves its cgroup v1 tmpfs writable otherwise)', () => {
    assert.ok(generateRuntimeSpec(base).linux.readonlyPaths.includes('/sys/fs/cgroup'));
  });

  it('RUN --security=insecure is unconfined: no seccomp filter', () => {
    assert.equal(generateRuntimeSpec({ ...base, securityInsecure: true }).linux.seccomp, undefined);
    assert.ok(!('seccomp' in generateRuntimeSpec({ ...base, securityInsecure: true }).linux));
  });
});

describe('capabilities runc can pass on', () => {
  it("boundingCapabilities reads CapBnd: Docker's default set is a80425fb", () => {
    assert.deepEqual(new Set(boundingCapabilities('Name:\tx\nCapBnd:\t00000000a80425fb\n')), new Set(DEFAULT_CAPABILITIES));
    assert.deepEqual(boundingCapabilities('CapBnd:\t000001fffeffffff\n'), ALL_CAPABILITIES.filter((cap) => cap !== 'CAP_SYS_RESOURCE'));
    assert.equal(boundingCapabilities('Name:\tx\n'), undefined);
  });

  it('--security=insecure grants every capability this process holds, and only those', () => {
    const input: RuntimeSpecInput = {
      rootfs: '/r', readonlyRootfs: false, args: ['/bin/true'], env: [], cwd: '/', uid: 0, gid: 0, additionalGids: [], hostname: 'h', network: 'none',
      securityInsecure: true, hostsFile: '/x/hosts', resolvConfFile: '/x/resolv.conf', mounts: [], nofile: 1024,
    };
    const held = ALL_CAPABILITIES.filter((cap) => cap !== 'CAP_SYS_RESOURCE');
    assert.deepEqual(generateRuntimeSpec({ ...input, grantableCapabilities: held }).process.capabilities.bounding, held);
    assert.deepEqual(generateRuntimeSpec(input).process.capabilities.bounding, ALL_CAPABILITIES);
    // the default set is not widened or narrowed by it
    assert.deepEqual(generateRuntimeSpec({ ...input, securityInsecure: false, grantableCapabilities: held }).process.capabilities.bounding, DEFAULT_CAPABILITIES);
  });
});

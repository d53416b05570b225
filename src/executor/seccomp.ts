/**
 * The seccomp filter of a RUN step: in effect the default profile Docker and BuildKit give a build
 * container. An allowlist (everything else fails with EPERM), widened only for the capabilities the
 * step holds, with the argument rules that keep namespaces (clone), execution domains (personality)
 * and vsock (socket) closed. `RUN --security=insecure` gets no filter at all, as in BuildKit.
 *
 * runc ignores names its libseccomp does not know, and answers ENOSYS for syscalls newer than every
 * one it knows (so libc falls back to an older call); listing syscalls of newer kernels is harmless.
 */

/** OCI runtime-spec `linux.seccomp` (config-linux.md#seccomp), the subset stagecraft writes. */
export interface OciSeccompArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: 'SCMP_CMP_NE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ';
}

export interface OciSyscall {
  readonly names: readonly string[];
  readonly action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  readonly errnoRet?: number;
  readonly args?: readonly OciSeccompArg[];
}

export interface OciSeccomp {
  readonly defaultAction: 'SCMP_ACT_ERRNO';
  readonly defaultErrnoRet: number;
  readonly architectures: readonly string[];
  readonly syscalls: readonly OciSyscall[];
}

/** The host a profile is made for: Node's `process.arch` and `os.release()`. */
export interface SeccompHost {
  readonly arch: string;
  readonly kernelRelease: string;
}

const EPERM = 1;
const ENOSYS = 38;
const AF_VSOCK = 40;
/** CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (linux/sched.h). */
const CLONE_NAMESPACE_FLAGS = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;
/** personality(2) values a build may set: PER_LINUX, PER_LINUX32, UNAME26, both, and the 0xffffffff query. */
const PERSONALITIES: readonly number[] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

function words(text: string): readonly string[] {
  return text.split(/\s+/u).filter((word) => word !== '');
}

/**
 * The calls every build may make: file, memory, process, signal, time, socket and IPC work that the
 * kernel already confines to the caller's own namespaces and credentials.
 */
const BASELINE = words(`
  _llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod
  chown chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
  clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat
  dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
  epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
  fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl
  fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64
  fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv
  futex_wake futimesat get_robust_list get_thread_area getcpu getcwd getdents getdents64 getegid
  getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp
  getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit getrusage
  getsid getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr getxattrat
  inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy io_getevents
  io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl ioprio_get ioprio_set ipc kill
  landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
  listen listmount listxattr listxattrat llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise
  map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
  mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
  mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock
  munlockall munmap name_to_handle_at nanosleep newfstatat open openat openat2 pause pidfd_open
  pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64
  preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read
  readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages
  removexattr removexattrat rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
  rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
  rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max sched_get_priority_min
  sched_getaffinity sched_getattr sched_getparam sched_getscheduler sched_rr_get_interval
  sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
  sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
  sendmmsg sendmsg sendto set_robust_list set_thread_area set_tid_address setfsgid setfsgid32 setfsuid
  setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32
  setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid
  setuid32 setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4
  sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink
  symlinkat sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
  timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create
  timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64
  ugetrlimit umask uname unlink unlinkat unshare uretprobe utime utimensat utimensat_time64 utimes vfork
  vmsplice wait4 waitid waitpid write writev
`);

/**
 * Calls tied to one architecture (keyed by Node's `process.arch`): allowed only on that host. Some
 * are 32-bit calls that a 64-bit host also filters, because its profile covers its 32-bit ABIs.
 */
const BY_ARCH: Readonly<Record<string, readonly string[]>> = {
  x64: words('arch_prctl modify_ldt'),
  ia32: words('modify_ldt'),
  arm: words('arm_fadvise64_64 arm_sync_file_range breakpoint cacheflush set_tls sync_file_range2'),
  arm64: words('arm_fadvise64_64 arm_sync_file_range breakpoint cacheflush set_tls sync_file_range2'),
  ppc64: words('swapcontext sync_file_range2'),
  s390x: words('s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr'),
  riscv64: words('riscv_flush_icache'),
};

/**
 * The seccomp architectures a host's filter covers (its native ABI first, then the compat ABIs its
 * kernel can run), so a 32-bit binary cannot reach a syscall by its other number.
 */
const ARCHITECTURES: Readonly<Record<string, readonly string[]>> = {
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  ia32: ['SCMP_ARCH_X86'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  arm: ['SCMP_ARCH_ARM'],
  ppc64: ['SCMP_ARCH_PPC64LE'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  riscv64: ['SCMP_ARCH_RISCV64'],
};

/**
 * Calls that are only as safe as a capability: each group is allowed when the step holds the
 * capability (all of them, for a multi-capability entry), and denied otherwise even though the
 * kernel would check it again. The filter narrows the kernel's attack surface, not only rights.
 */
const BY_CAPABILITY: readonly { readonly caps: readonly string[]; readonly names: readonly string[] }[] = [
  {
    caps: ['CAP_SYS_ADMIN'],
    names: words(`
      bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr
      lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl
      quotactl_fd setdomainname sethostname setns syslog umount umount2
    `),
  },
  { caps: ['CAP_DAC_READ_SEARCH'], names: words('open_by_handle_at') },
  { caps: ['CAP_SYS_BOOT'], names: words('reboot') },
  { caps: ['CAP_SYS_CHROOT'], names: words('chroot') },
  { caps: ['CAP_SYS_MODULE'], names: words('delete_module finit_module init_module') },
  { caps: ['CAP_SYS_PACCT'], names: words('acct') },
  { caps: ['CAP_SYS_PTRACE'], names: words('kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace') },
  { caps: ['CAP_SYS_RAWIO'], names: words('ioperm iopl') },
  { caps: ['CAP_SYS_TIME'], names: words('clock_settime clock_settime64 settimeofday stime') },
  { caps: ['CAP_SYS_TTY_CONFIG'], names: words('vhangup') },
  { caps: ['CAP_SYS_NICE'], names: words('get_mempolicy mbind set_mempolicy set_mempolicy_home_node') },
  { caps: ['CAP_SYSLOG'], names: words('syslog') },
  { caps: ['CAP_BPF'], names: words('bpf') },
  { caps: ['CAP_PERFMON'], names: words('perf_event_open') },
];

/**
 * ptrace and process_vm_* for everyone, but only on kernels from 4.8: before that a traced process
 * could change its syscall after the filter had checked it.
 */
const TRACE = words('process_vm_readv process_vm_writev ptrace');

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const match = /^(\d+)\.(\d+)/u.exec(release);
  if (match === null) return false;
  const [have, haveMinor] = [Number(match[1]), Number(match[2])];
  return have > major || (have === major && haveMinor >= minor);
}

/**
 * The default profile for a step holding `capabilities` (its bounding set) on `host`. The result is
 * a fresh object; the rules keep a stable order, so the same inputs give the same config.json.
 */
export function defaultSeccompProfile(capabilities: readonly string[], host: SeccompHost): OciSeccomp {
  const held = new Set(capabilities);
  const sysAdmin = held.has('CAP_SYS_ADMIN');
  const syscalls: OciSyscall[] = [{ names: [...BASELINE], action: 'SCMP_ACT_ALLOW' }];
  if (kernelAtLeast(host.kernelRelease, 4, 8)) syscalls.push({ names: [...TRACE], action: 'SCMP_ACT_ALLOW' });
  syscalls.push({ names: ['socket'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }] });
  for (const value of PERSONALITIES) syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
  const archNames = BY_ARCH[host.arch];
  if (archNames !== undefined) syscalls.push({ names: [...archNames], action: 'SCMP_ACT_ALLOW' });
  for (const group of BY_CAPABILITY) {
    if (group.caps.every((cap) => held.has(cap))) syscalls.push({ names: [...group.names], action: 'SCMP_ACT_ALLOW' });
  }
  if (!sysAdmin) {
    // clone without any CLONE_NEW* flag: threads and processes yes, namespaces no. s390 swaps the
    // first two arguments of clone. clone3 passes its flags in memory a filter cannot read, so it
    // answers ENOSYS and libc falls back to clone.
    const flagsIndex = host.arch === 's390x' ? 1 : 0;
    syscalls.push({ names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: flagsIndex, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    architectures: [...(ARCHITECTURES[host.arch] ?? [])],
    syscalls,
  };
}

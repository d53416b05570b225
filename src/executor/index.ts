export type { BindMount, ExecResourceLimits, ExecIo, ExecMount, ExecResult, ExecSpec, Executor, InlineFileMount, NetworkMode, SecretMount, SshMount, TmpfsMount } from './types.js';
export { createSlirpNetwork, SLIRP_NAMESERVER, type NetworkNamespace, type NetworkProvider, type SlirpNetworkOptions } from './network.js';
export { createRuncExecutor, runcExecutorOptionsSchema, type RuncExecutorOptions } from './runc.js';
export { parseGroup, parsePasswd, resolveUser, type GroupEntry, type PasswdEntry, type ResolvedUser, type UserFiles } from './user.js';
export { MountStubs } from './mount-stubs.js';
export {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_HOSTNAME,
  DEFAULT_NAMESERVERS,
  DEFAULT_PATH,
  MASKED_PATHS,
  NOFILE_LIMIT,
  READONLY_PATHS,
  SYSTEM_MOUNT_POINTS,
  ULIMIT_NAMES,
  cgroupsPath,
  DEFAULT_SHM_SIZE,
  boundingCapabilities,
  nofileLimit,
  generateRuntimeSpec,
  hostsFileContent,
  ociBind,
  ociInlineFile,
  ociSecret,
  ociSocket,
  ociTmpfs,
  processEnv,
  resolvConfContent,
  type OciMount,
  type RuntimeSpec,
  type RuntimeSpecInput,
} from './spec.js';
export { defaultSeccompProfile, type OciSeccomp, type OciSeccompArg, type OciSyscall, type SeccompHost } from './seccomp.js';
export { sweepRuncState } from './sweep.js';
export { BINFMT_MISC_DIR, checkEmulation, type EmulationCheckOptions } from './emulation.js';
export { checkUserNamespaceSysctls, planRootless, rootlessLimitsError, runInUserNamespace, type RootlessOptions, type RootlessPlan, type UserNamespaceSysctls } from './userns.js';

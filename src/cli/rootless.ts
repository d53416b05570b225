/**
 * The rootless entry: an unprivileged user's command that touches the state root (builds, the store,
 * prune, debug, …) is run again as root of a user namespace of its own (executor/userns.ts), where
 * overlay mounts and runc work. Commands that never open the state root run as they are. Inside the
 * namespace the process is uid 0 and this does nothing.
 */
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { renderError } from './render-error.js';

/** Commands that need no state root, mounts or runc. */
const PLAIN_COMMANDS = new Set(['version', 'lint', 'completion', 'k8s', 'keygen', 'help']);
/** Global options that take a value (so their value is not the command name). */
const VALUE_OPTIONS = new Set(['--root']);

/** Whether the command line `argv` (without node and the script) runs in a user namespace when not root. */
export function needsUserNamespace(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '-h' || arg === '--help' || arg === '-v' || arg === '--version') return false;
    if (VALUE_OPTIONS.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith('-')) continue;
    if (PLAIN_COMMANDS.has(arg)) return false;
    // `debug ast` parses a Dockerfile only; every other debug command opens kept state.
    if (arg === 'debug' && argv[i + 1] === 'ast') return false;
    return !argv.slice(i + 1).some((a) => a === '-h' || a === '--help');
  }
  return false;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

function loginName(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined; // no passwd entry for this uid
  }
}

/**
 * When this process is not root and the command needs it, runs stagecraft again in a user namespace
 * and resolves with that run's exit status; undefined when the command should run here.
 */
export async function runRootless(argv: readonly string[], warn: (message: string) => void): Promise<number | undefined> {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === undefined || gid === undefined || uid === 0 || !needsUserNamespace(argv)) return undefined;
  const script = process.argv[1];
  if (script === undefined) return undefined;
  const { runInUserNamespace } = await import('../executor/index.js');
  const [subuid, subgid, maxUserNamespaces, unprivilegedUsernsClone, apparmorRestrict] = await Promise.all([
    readOptional('/etc/subuid'),
    readOptional('/etc/subgid'),
    readOptional('/proc/sys/user/max_user_namespaces'),
    readOptional('/proc/sys/kernel/unprivileged_userns_clone'),
    readOptional('/proc/sys/kernel/apparmor_restrict_unprivileged_userns'),
  ]);
  return runInUserNamespace({
    command: process.execPath,
    args: [...process.execArgv, script, ...argv],
    uid,
    gid,
    userName: loginName(),
    subuid,
    subgid,
    sysctls: { maxUserNamespaces, unprivilegedUsernsClone, apparmorRestrict },
    warn,
  });
}

/** `runRootless` for the CLI entry: warnings and errors are printed to stderr (an error gives its exit status). */
export async function rootlessEntry(argv: readonly string[]): Promise<number | undefined> {
  try {
    return await runRootless(argv, (message) => process.stderr.write(`warning: ${message}\n`));
  } catch (error) {
    const rendered = renderError(error, argv.includes('--debug'));
    process.stderr.write(`${rendered.text}\n`);
    return rendered.exitCode;
  }
}

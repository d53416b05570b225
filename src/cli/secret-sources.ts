/** `--secret` and `--ssh` of `build` and `debug`: the values read, the sockets checked, before any work starts. */
import { readFile, stat } from 'node:fs/promises';
import { StagecraftError } from '../core/index.js';
import { parseSecretSpec, parseSshSpec } from './secret-flags.js';

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

/** `--secret` flags → id → value. */
export async function readSecrets(specs: readonly string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const raw of specs) {
    const spec = parseSecretSpec(raw, (name) => process.env[name] !== undefined);
    if (spec.source.kind === 'env') {
      const value = process.env[spec.source.name];
      if (value === undefined) throw usage(`--secret ${raw}: the environment variable ${spec.source.name} is not set`, `export ${spec.source.name}=… or use src=FILE`);
      out.set(spec.id, Buffer.from(value));
    } else {
      try {
        out.set(spec.id, await readFile(spec.source.path));
      } catch {
        throw new StagecraftError('FILE_NOT_FOUND', `--secret ${raw}: cannot read ${spec.source.path}`, { hint: 'check the path given with src=' });
      }
    }
  }
  return out;
}

/** `--ssh` flags → id → agent socket; each socket must exist and be a unix socket before the build starts. */
export async function sshSockets(specs: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const raw of specs) {
    const spec = parseSshSpec(raw);
    const socket = spec.paths[0] ?? process.env.SSH_AUTH_SOCK;
    if (socket === undefined || socket === '') throw usage(`--ssh ${raw}: no agent socket`, 'start an ssh-agent (SSH_AUTH_SOCK) or write --ssh ID=/path/to/agent.sock');
    if (spec.paths.some((p) => !p.endsWith('.sock') && p !== socket)) throw usage(`--ssh ${raw}: key files are not supported, only agent sockets`, 'load the key into an ssh-agent and pass its socket');
    const named = spec.paths[0] === undefined ? `${socket} (SSH_AUTH_SOCK)` : socket;
    let isSocket: boolean;
    try {
      isSocket = (await stat(socket)).isSocket();
    } catch (cause) {
      throw new StagecraftError('FILE_NOT_FOUND', `--ssh ${raw}: agent socket ${named} does not exist`, { hint: 'start an ssh-agent and pass its socket (eval $(ssh-agent); ssh-add), or fix the path', cause });
    }
    if (!isSocket) throw usage(`--ssh ${raw}: ${named} is not a unix socket`, 'pass the socket of an ssh-agent (as in SSH_AUTH_SOCK); key files are not supported, load them into the agent with ssh-add');
    out.set(spec.id, socket);
  }
  return out;
}

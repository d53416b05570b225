/**
 * `--secret` and `--ssh` values, as docker buildx reads them (util/buildflags/secrets.go, ssh.go).
 */
import { StagecraftError } from '../core/index.js';
import { keyValueFields } from '../util/csv-flags.js';

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

export interface SecretSpec {
  readonly id: string;
  readonly source: { readonly kind: 'file'; readonly path: string } | { readonly kind: 'env'; readonly name: string };
}

const SECRET_KEYS = ['id', 'src', 'source', 'env', 'type'];

/**
 * `--secret id=ID[,src=PATH|source=PATH][,env=NAME][,type=file|env]` as buildx: the value is CSV
 * (`"src=/a,b"` keeps the comma); without src/env the value comes from the environment variable ID
 * if set, else from a file named ID.
 */
export function parseSecretSpec(raw: string, envHas: (name: string) => boolean): SecretSpec {
  const map = new Map<string, string>();
  for (const { key, value } of keyValueFields(raw, '--secret')) {
    if (!SECRET_KEYS.includes(key)) throw usage(`unknown key "${key}" in --secret "${raw}"`, 'write --secret id=ID,src=FILE or --secret id=ID,env=VAR');
    map.set(key === 'source' ? 'src' : key, value);
  }
  const id = map.get('id') ?? '';
  const src = map.get('src');
  const env = map.get('env');
  const type = map.get('type');
  if (type !== undefined && type !== 'file' && type !== 'env') throw usage(`unsupported secret type "${type}" in --secret "${raw}"`, 'type is file or env');
  if (id === '' && src === undefined && env === undefined) throw usage(`--secret "${raw}" has no id`, 'write --secret id=ID,src=FILE');
  const secretId = id !== '' ? id : src !== undefined ? basename(src) : (env ?? '');
  if (type === 'env' || (env !== undefined && src === undefined)) return { id: secretId, source: { kind: 'env', name: env ?? src ?? secretId } };
  if (src !== undefined) return { id: secretId, source: { kind: 'file', path: src } };
  if (type !== 'file' && envHas(secretId)) return { id: secretId, source: { kind: 'env', name: secretId } };
  return { id: secretId, source: { kind: 'file', path: secretId } };
}

function basename(path: string): string {
  const parts = path.split('/').filter((p) => p !== '');
  return parts.at(-1) ?? path;
}

export interface SshSpec {
  readonly id: string;
  /** Agent socket or key files; empty = $SSH_AUTH_SOCK. */
  readonly paths: readonly string[];
}

/**
 * `--ssh default` / `--ssh default=$SSH_AUTH_SOCK` / `--ssh id=/path/key[,/path/key2]`. Not CSV:
 * buildx splits at the first `=` and the paths at every `,` (ssh.go), so a quote is part of a path.
 */
export function parseSshSpec(raw: string): SshSpec {
  const eq = raw.indexOf('=');
  const id = eq === -1 ? raw : raw.slice(0, eq);
  if (id === '' || /[,\s]/.test(id)) throw usage(`invalid --ssh "${raw}"`, 'write --ssh default or --ssh ID=/path/to/agent.sock');
  const paths = eq === -1 ? [] : raw.slice(eq + 1).split(',').filter((p) => p !== '');
  return { id, paths };
}

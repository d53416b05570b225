/**
 * Registry credentials: explicit ones passed in, then Docker's config.json (`credHelpers`,
 * `credsStore`, `auths`), looked up the way the docker CLI does. Secrets never appear in errors.
 */
import { readFile } from 'node:fs/promises';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { StagecraftError } from '../core/index.js';
import { runProcess } from '../util/process.js';
import { formatIssues } from '../oci/index.js';
import { redactText } from './redact.js';
import { dockerConfigSchema, helperOutputSchema, type DockerConfigFile } from './schemas.js';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** What the registry client asks for credentials; owned by the client, implemented here or in tests. */
export interface CredentialProvider {
  /** Credentials for a registry host (`docker.io`, `localhost:5000`), or undefined for anonymous access. */
  get(host: string, signal?: AbortSignal): Promise<Credentials | undefined>;
}

export interface CredentialStoreOptions {
  /** Path of Docker's config.json (the caller resolves `$DOCKER_CONFIG`/`~/.docker`). Absent: no file. */
  readonly dockerConfigPath?: string | undefined;
  /** Credentials by registry host; they win over the config file. */
  readonly explicit?: Readonly<Record<string, Credentials>> | undefined;
  /** Directories searched for `docker-credential-<name>`; absent: the program is run by name (PATH). */
  readonly helperDirs?: readonly string[] | undefined;
}

const DOCKER_HUB_ALIASES = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];
/** The key Docker Hub credentials are stored under (a legacy v1 URL). */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/** `https://host:5000/v1/` → `host:5000` (docker's ConvertToHostname); Docker Hub aliases → `docker.io`. */
export function credentialHost(key: string): string {
  const host = key.replace(/^https?:\/\//, '').split('/')[0] ?? '';
  return DOCKER_HUB_ALIASES.includes(host) ? 'docker.io' : host;
}

export class CredentialStore implements CredentialProvider {
  private config: Promise<DockerConfigFile> | undefined;
  private readonly cache = new Map<string, Promise<Credentials | undefined>>();

  constructor(private readonly options: CredentialStoreOptions = {}) {}

  async get(host: string, signal?: AbortSignal): Promise<Credentials | undefined> {
    const key = credentialHost(host);
    const explicit = Object.entries(this.options.explicit ?? {}).find(([h]) => credentialHost(h) === key);
    if (explicit !== undefined) return explicit[1];
    let pending = this.cache.get(key);
    if (pending === undefined) {
      pending = this.lookup(key, signal);
      this.cache.set(key, pending);
      pending.catch(() => this.cache.delete(key));
    }
    return pending;
  }

  private async lookup(host: string, signal: AbortSignal | undefined): Promise<Credentials | undefined> {
    const config = await this.readConfig();
    const serverUrl = host === 'docker.io' ? DOCKER_HUB_AUTH_KEY : host;
    const helper = Object.entries(config.credHelpers ?? {}).find(([h]) => credentialHost(h) === host)?.[1];
    if (helper !== undefined) return this.runHelper(helper, serverUrl, signal);
    if (config.credsStore !== undefined && config.credsStore !== '') {
      const stored = await this.runHelper(config.credsStore, serverUrl, signal);
      if (stored !== undefined) return stored;
    }
    const entry = Object.entries(config.auths ?? {}).find(([h]) => credentialHost(h) === host)?.[1];
    if (entry === undefined) return undefined;
    if (entry.auth !== undefined && entry.auth !== '') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon <= 0) {
        throw new StagecraftError('CONFIG', `the "auth" entry for ${host} in ${this.path()} is not base64 of "username:password"`, {
          hint: `run \`docker login ${host}\` again or fix the entry`,
        });
      }
      return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
    return undefined;
  }

  private path(): string {
    return this.options.dockerConfigPath ?? 'the docker config';
  }

  private async readConfig(): Promise<DockerConfigFile> {
    this.config ??= (async () => {
      const path = this.options.dockerConfigPath;
      if (path === undefined) return {};
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
        throw error;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        // No cause: a JSON syntax error quotes the text around the fault, and this text holds logins.
        throw new StagecraftError('CONFIG', `${path} is not valid JSON`, { hint: 'fix or remove the file (it holds registry logins)' });
      }
      const result = dockerConfigSchema.safeParse(json);
      if (!result.success) {
        throw new StagecraftError('CONFIG', `${path} is not a valid docker config: ${formatIssues(result.error)}`, { hint: 'fix the named field' });
      }
      return result.data;
    })();
    return this.config;
  }

  private async helperCommand(name: string): Promise<string> {
    const program = `docker-credential-${name}`;
    for (const dir of this.options.helperDirs ?? []) {
      const candidate = join(dir, program);
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not in this directory
      }
    }
    return program;
  }

  private async runHelper(name: string, serverUrl: string, signal: AbortSignal | undefined): Promise<Credentials | undefined> {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
      throw new StagecraftError('CONFIG', `invalid credential helper name ${JSON.stringify(name)} in ${this.path()}`, { hint: 'a helper name is the suffix of a docker-credential-<name> program' });
    }
    const command = await this.helperCommand(name);
    let result;
    try {
      result = await runProcess(command, ['get'], { input: serverUrl, signal });
    } catch (error) {
      if (error instanceof StagecraftError) {
        throw new StagecraftError('EXTERNAL_TOOL', `credential helper docker-credential-${name} (from ${this.path()}) could not be run`, {
          hint: `install docker-credential-${name} or remove it from credsStore/credHelpers`,
          cause: error,
        });
      }
      throw error;
    }
    if (result.code !== 0) {
      // The helper protocol reports a missing entry on stdout with a non-zero exit.
      if (/credentials not found/i.test(result.stdout + result.stderr)) return undefined;
      throw new StagecraftError('EXTERNAL_TOOL', `credential helper docker-credential-${name} failed (exit ${result.code}) for ${serverUrl}: ${redactText(firstLine(result.stderr || result.stdout))}`, {
        hint: `check that \`echo ${serverUrl} | docker-credential-${name} get\` works`,
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(result.stdout);
    } catch {
      json = undefined;
    }
    const parsed = helperOutputSchema.safeParse(json);
    if (!parsed.success) {
      throw new StagecraftError('EXTERNAL_TOOL', `credential helper docker-credential-${name} printed an invalid answer for ${serverUrl}`, {
        hint: 'a helper prints {"ServerURL":…,"Username":…,"Secret":…}',
      });
    }
    // Username "<token>" marks an OAuth identity token, which needs a refresh-token exchange we do not do.
    if (parsed.data.Username === '<token>') return undefined;
    return { username: parsed.data.Username, password: parsed.data.Secret };
  }
}

function firstLine(text: string): string {
  return (text.trim().split('\n')[0] ?? '').slice(0, 200);
}

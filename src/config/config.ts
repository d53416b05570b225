/**
 * Configuration: flags, then environment, then the optional config file, then defaults, resolved once
 * into a frozen `Config`. This is the only module besides cli/ that reads the environment, and even
 * here the environment is passed in (`LoadConfigOptions.env`), so tests never touch process.env.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { StagecraftError } from '../core/index.js';

/** A registry host, optionally with a port: `registry.example.com`, `localhost:5000`, `[::1]:5000`. */
const HOST_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;

const hostSchema = z.string().regex(HOST_RE, 'must be a registry host such as "registry.local:5000" (no scheme, no path)');
const mirrorSchema = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL such as "https://mirror.example.com"' });

/** The config file (`<stateRoot>/config.json` or `$STAGECRAFT_CONFIG`). Unknown keys are errors. */
export const configFileSchema = z.strictObject({
  /** Registries reached over plain HTTP (and HTTPS without certificate verification). */
  insecureRegistries: z.array(hostSchema).optional(),
  /** Mirrors tried, in order, before docker.io for images of Docker Hub. */
  registryMirrors: z.array(mirrorSchema).optional(),
  /** RUN steps running at once (default: max(4, cores)). */
  maxParallelism: z.number().int().min(1).max(256).optional(),
  /** After every build, prune least recently used build cache until the store fits (bytes). */
  keepStorage: z.number().int().min(0).optional(),
  /** Seconds to wait for a registry's response headers before giving up (default 30, as BuildKit). */
  registryResponseTimeout: z.number().positive().max(3600).optional(),
  /** Failed builds whose failed RUN step is kept for `stagecraft debug` (default 5; 0: none). */
  debugKeep: z.number().int().min(0).max(1000).optional(),
});
export type ConfigFile = z.infer<typeof configFileSchema>;

export interface Config {
  /** Absolute directory holding the content store, metadata database and snapshots. */
  readonly stateRoot: string;
  /** The docker CLI config with registry credentials (`auths`, `credHelpers`, `credsStore`). */
  readonly dockerConfigPath: string;
  /** The config file that was read, or undefined if there was none. */
  readonly configFile: string | undefined;
  /** Hosts spoken to over plain HTTP. Always includes localhost and 127.0.0.1 (any port), as docker does. */
  readonly insecureRegistries: readonly string[];
  /** Mirror base URLs for docker.io, in order. */
  readonly registryMirrors: readonly string[];
  /** RUN steps running at once; undefined: the builder's default. */
  readonly maxParallelism: number | undefined;
  /** The automatic keep-storage policy (bytes), applied after each build; undefined: none. */
  readonly keepStorage: number | undefined;
  /** Milliseconds to wait for a registry's response headers; undefined: the registry client's default (30 s). */
  readonly registryResponseTimeoutMs: number | undefined;
  /** Failed builds whose failed step's state is kept for `stagecraft debug` (0: none). */
  readonly debugKeep: number;
  /**
   * Where builds export their OTLP/HTTP traces: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else
   * `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces` (the OTel exporter spec); undefined: no traces
   * (also with `OTEL_TRACES_EXPORTER=none` or `OTEL_SDK_DISABLED=true`).
   */
  readonly otlpTracesEndpoint?: string | undefined;
  /**
   * The process runs as root of a user namespace (a rootless build, see docs/rootless.md): uid 0 is
   * not the host's root, so the state root defaults to the user's.
   */
  readonly rootless?: boolean | undefined;
}

/** Failed builds kept for `stagecraft debug` when the config does not say. */
export const DEFAULT_DEBUG_KEEP = 5;

/** Values from command-line flags; each wins over the environment. */
export interface ConfigFlags {
  readonly root?: string | undefined;
  readonly config?: string | undefined;
}

export interface LoadConfigOptions {
  /** The process environment (the CLI passes `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly flags?: ConfigFlags;
  /** Effective user id; defaults to `process.getuid()`. Root gets /var/lib/stagecraft. */
  readonly uid?: number;
  /** Home directory fallback when `$HOME` is unset; defaults to `os.homedir()`. */
  readonly homedir?: string;
  /** The process is root of a user namespace (the CLI detects it from /proc/self/uid_map): treated as a user, not root. */
  readonly rootless?: boolean;
}

/** Hosts that are insecure without any configuration (any port). */
export const DEFAULT_INSECURE_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function defaultStateRoot(env: LoadConfigOptions['env'], asRoot: boolean, home: string): string {
  if (asRoot) return '/var/lib/stagecraft';
  const xdg = nonEmpty(env.XDG_DATA_HOME);
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'stagecraft');
  return join(home, '.local', 'share', 'stagecraft');
}

function readConfigFile(path: string, explicit: boolean): ConfigFile | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (!explicit && (error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StagecraftError('CONFIG', `cannot read config file ${path}: ${(error as Error).message}`, {
      hint: explicit ? 'check --config / $STAGECRAFT_CONFIG, or unset it to use <stateRoot>/config.json' : undefined,
      cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new StagecraftError('CONFIG', `config file ${path} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = configFileSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.length === 0 ? '(top level)' : issue.path.join('.')}: ${issue.message}`);
    throw new StagecraftError('CONFIG', `config file ${path} is invalid: ${problems.join('; ')}`, {
      hint: 'allowed keys: "insecureRegistries" (array of hosts), "registryMirrors" (array of URLs for docker.io), "maxParallelism", "keepStorage" (bytes) "registryResponseTimeout" (seconds) and "debugKeep" (failed builds kept for stagecraft debug)',
    });
  }
  return parsed.data;
}

/** Resolves the configuration. Throws StagecraftError CONFIG naming the file on a bad config file. */
export function loadConfig(options: LoadConfigOptions): Config {
  const { env } = options;
  const flags = options.flags ?? {};
  const rootless = options.rootless ?? false;
  const uid = options.uid ?? (typeof process.getuid === 'function' ? process.getuid() : 1000);
  // Root of a user namespace is the user who made it: it gets that user's defaults.
  const asRoot = uid === 0 && !rootless;
  const home = nonEmpty(env.HOME) ?? options.homedir ?? homedir();

  const rootSetting = nonEmpty(flags.root) ?? nonEmpty(env.STAGECRAFT_ROOT);
  // A relative state root would change meaning with the working directory: resolve it once, here.
  const stateRoot = resolve(rootSetting ?? defaultStateRoot(env, asRoot, home));

  const dockerConfigDir = nonEmpty(env.DOCKER_CONFIG);
  const dockerConfigPath = dockerConfigDir !== undefined ? join(resolve(dockerConfigDir), 'config.json') : join(home, '.docker', 'config.json');

  const explicitFile = nonEmpty(flags.config) ?? nonEmpty(env.STAGECRAFT_CONFIG);
  const configPath = explicitFile !== undefined ? resolve(explicitFile) : join(stateRoot, 'config.json');
  const file = readConfigFile(configPath, explicitFile !== undefined);

  const insecure = [...new Set([...DEFAULT_INSECURE_HOSTS, ...(file?.insecureRegistries ?? [])])];
  const mirrors = (file?.registryMirrors ?? []).map((url) => url.replace(/\/+$/, ''));
  const debugKeepEnv = nonEmpty(env.STAGECRAFT_DEBUG_KEEP);
  if (debugKeepEnv !== undefined && !/^\d{1,4}$/u.test(debugKeepEnv)) {
    throw new StagecraftError('CONFIG', `STAGECRAFT_DEBUG_KEEP="${debugKeepEnv}" is not a number of builds`, { hint: 'set it to 0 (keep no failed step) or a count such as 5' });
  }
  return Object.freeze({
    stateRoot,
    dockerConfigPath,
    configFile: file === undefined ? undefined : configPath,
    insecureRegistries: Object.freeze(insecure),
    registryMirrors: Object.freeze(mirrors),
    maxParallelism: file?.maxParallelism,
    keepStorage: file?.keepStorage,
    registryResponseTimeoutMs: file?.registryResponseTimeout === undefined ? undefined : Math.round(file.registryResponseTimeout * 1000),
    debugKeep: debugKeepEnv !== undefined ? Number(debugKeepEnv) : (file?.debugKeep ?? DEFAULT_DEBUG_KEEP),
    otlpTracesEndpoint: otlpTracesEndpoint(env),
    rootless,
  });
}

/** The OTLP/HTTP traces URL the environment names (OpenTelemetry's exporter configuration), checked here. */
function otlpTracesEndpoint(env: Readonly<Record<string, string | undefined>>): string | undefined {
  if (nonEmpty(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return undefined;
  const exporters = (nonEmpty(env.OTEL_TRACES_EXPORTER) ?? 'otlp').split(',').map((e) => e.trim().toLowerCase());
  if (!exporters.includes('otlp')) return undefined;
  const traces = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const [name, url] = traces !== undefined ? ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', traces] : base !== undefined ? ['OTEL_EXPORTER_OTLP_ENDPOINT', `${base.replace(/\/+$/, '')}/v1/traces`] : [undefined, undefined];
  if (name === undefined || url === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StagecraftError('CONFIG', `${name}="${name === 'OTEL_EXPORTER_OTLP_ENDPOINT' ? base ?? '' : url}" is not a URL`, { hint: 'set it to the collector\'s OTLP/HTTP address, e.g. http://localhost:4318' });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new StagecraftError('CONFIG', `${name}: traces are exported over OTLP/HTTP, not ${parsed.protocol.replace(/:$/, '')}`, { hint: 'give the collector\'s http:// or https:// address (OTLP/HTTP, port 4318 by default)' });
  }
  return parsed.href;
}

/**
 * Whether `host` (`name[:port]`) is spoken to over plain HTTP: listed exactly, or listed without a
 * port, or a default loopback host on any port.
 */
export function isInsecureRegistry(config: Pick<Config, 'insecureRegistries'>, host: string): boolean {
  const lower = host.toLowerCase();
  const name = lower.startsWith('[') ? lower.slice(0, lower.indexOf(']') + 1) : lower.replace(/:\d+$/, '');
  return config.insecureRegistries.some((entry) => {
    const e = entry.toLowerCase();
    return e === lower || e === name;
  });
}

/**
 * The image config a stage accumulates (oci's `ImageConfig`, the JSON an image carries), and the small
 * formatting rules BuildKit uses for history entries.
 */
import type { Platform } from '../../core/index.js';
import type { ContainerConfig, Healthcheck, History, ImageConfig } from '../../oci/index.js';

/**
 * The image config of a stage being converted: an oci `ImageConfig` whose `config` and `history` are
 * present and owned by the stage (changed in place). Its `rootfs` is the base image's: the stage's own
 * layers are known only after the solve, and the assembler writes the image's `rootfs` from them.
 */
export type WorkingImage = ImageConfig & { config: ContainerConfig; history: History[] };

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];
export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/** The config of `FROM scratch` for `platform`. */
export function emptyImage(platform: Platform): WorkingImage {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined && platform.variant !== '' ? { variant: platform.variant } : {}),
    config: { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
}

/**
 * A copy whose arrays and maps can be changed without touching `image` (a base image's config or a
 * parent stage's), with `config` and `history` present (Docker allows them absent or null) and a
 * healthcheck's `Test` present. Strings and the (read-only) history entries are shared, not copied: a
 * stage built on a stage costs pointers, not another copy of every value (structuredClone would copy
 * each string).
 */
export function cloneImage(image: ImageConfig): WorkingImage {
  const c = image.config ?? {};
  const config: ContainerConfig = { ...c };
  if (c.Env !== undefined) config.Env = [...c.Env];
  if (c.Entrypoint !== undefined) config.Entrypoint = [...c.Entrypoint];
  if (c.Cmd !== undefined) config.Cmd = [...c.Cmd];
  if (c.OnBuild !== undefined) config.OnBuild = [...c.OnBuild];
  if (c.Shell !== undefined) config.Shell = [...c.Shell];
  if (c.Labels !== undefined) config.Labels = { ...c.Labels };
  if (c.Volumes !== undefined) config.Volumes = { ...c.Volumes };
  if (c.ExposedPorts !== undefined) config.ExposedPorts = { ...c.ExposedPorts };
  if (c.Healthcheck !== undefined) config.Healthcheck = { ...c.Healthcheck, Test: [...(c.Healthcheck.Test ?? [])] };
  return { ...image, config, history: [...(image.history ?? [])] };
}

/**
 * `record[key] = value` as an own property even for keys such as `__proto__` (a label or volume may be
 * named so; plain assignment would change the prototype and drop it).
 */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Sets KEY in a `KEY=VALUE` list, replacing an existing entry in place (BuildKit's addEnv). */
export function addEnv(env: readonly string[], key: string, value: string): string[] {
  const out = [...env];
  const index = out.findIndex((entry) => envKey(entry) === key);
  if (index === -1) out.push(`${key}=${value}`);
  else out[index] = `${key}=${value}`;
  return out;
}

export function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

export function envValue(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? '' : entry.slice(eq + 1);
}

/** Go's `%q` of a []string: `["a" "b"]`. */
export function goQuoteList(list: readonly string[]): string {
  return `[${list.map((s) => goQuote(s)).join(' ')}]`;
}

/** Go's `%v` of a []string: `[a b]`. */
export function goList(list: readonly string[]): string {
  return `[${list.join(' ')}]`;
}

/** Go's strconv.Quote for the printable subset plus the usual escapes. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"': out += '\\"'; break;
      case '\\': out += '\\\\'; break;
      case '\n': out += '\\n'; break;
      case '\r': out += '\\r'; break;
      case '\t': out += '\\t'; break;
      case '\x07': out += '\\a'; break;
      case '\b': out += '\\b'; break;
      case '\f': out += '\\f'; break;
      case '\v': out += '\\v'; break;
      default:
        if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
        else out += ch;
    }
  }
  return `${out}"`;
}

/** Go's time.Duration.String() for a nanosecond count: `1m30s`, `500ms`, `0s`. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const sign = ns < 0 ? '-' : '';
  let n = Math.abs(ns);
  if (n < 1e3) return `${sign}${n}ns`;
  if (n < 1e6) return `${sign}${trimFloat(n / 1e3)}µs`;
  if (n < 1e9) return `${sign}${trimFloat(n / 1e6)}ms`;
  let out = '';
  const hours = Math.floor(n / 3600e9);
  n -= hours * 3600e9;
  const minutes = Math.floor(n / 60e9);
  n -= minutes * 60e9;
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  out += `${trimFloat(n / 1e9)}s`;
  return sign + out;
}

function trimFloat(x: number): string {
  return Number.parseFloat(x.toFixed(9)).toString();
}

/** BuildKit's history text for HEALTHCHECK: Go's `%+v` of the HealthcheckConfig struct. */
export function healthcheckHistory(h: Healthcheck): string {
  return `HEALTHCHECK {Test:${goList(h.Test ?? [])} Interval:${goDuration(h.Interval ?? 0)} Timeout:${goDuration(h.Timeout ?? 0)} StartPeriod:${goDuration(h.StartPeriod ?? 0)} StartInterval:${goDuration(h.StartInterval ?? 0)} Retries:${h.Retries ?? 0}}`;
}

/**
 * `stagecraft build` flags that shape every RUN step or the image's manifest, read as docker buildx
 * reads them: `--add-host`, `--shm-size`, `--ulimit` (buildx build/utils.go, docker's go-units) and
 * `--annotation` (buildx util/buildflags/export.go ParseAnnotations, BuildKit's image writer).
 */
import { isIP } from 'node:net';
import { StagecraftError, normalizePlatform, parsePlatform, platformEquals } from '../core/index.js';
import { ULIMIT_NAMES } from '../executor/index.js';
import type { ImageAnnotations } from '../image/index.js';
import type { ExecHost, ExecResources, ExecUlimit } from '../plan/index.js';
import { splitFlagFields } from '../util/csv-flags.js';

function usage(message: string, hint: string): StagecraftError {
  return new StagecraftError('USAGE', message, { hint });
}

/** Docker's name for the host's gateway address (`--add-host name:host-gateway`). */
const HOST_GATEWAY = 'host-gateway';

/**
 * `--add-host HOST:IP` or `HOST=IP` (repeatable; each value is a CSV list, as pflag's string slice
 * buildx uses). `IP` may be several addresses separated by commas (quote the field) and an IPv6
 * address may be in brackets. `host-gateway` is refused as with buildx's docker-container and remote
 * drivers: RUN steps cannot reach the build host.
 */
export function parseAddHosts(values: readonly string[]): ExecHost[] {
  const out: ExecHost[] = [];
  for (const value of values) {
    for (const field of splitFlagFields(value, '--add-host')) {
      let cut = field.indexOf('=');
      if (cut === -1) cut = field.indexOf(':');
      const host = cut === -1 ? '' : field.slice(0, cut);
      const ips = cut === -1 ? '' : field.slice(cut + 1);
      if (host === '' || ips === '') throw usage(`invalid --add-host "${field}"`, 'write --add-host NAME:IP or --add-host NAME=IP, e.g. --add-host db.internal:10.0.0.5');
      if (ips === HOST_GATEWAY) {
        throw usage(`--add-host ${field}: host-gateway is not supported`, 'RUN steps run in a network of their own and cannot reach the build host; give the address of a host they can reach');
      }
      for (let ip of ips.split(',')) {
        if (ip.length > 2 && ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
        if (isIP(ip) === 0) throw usage(`invalid --add-host "${field}": "${ip}" is not an IP address`, 'write --add-host NAME:IP with an IPv4 or IPv6 address');
        // BuildKit lower-cases the entry (dockerui parseExtraHosts).
        out.push({ host: host.toLowerCase(), ip: ip.toLowerCase() });
      }
    }
  }
  return out;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** A size with an optional binary unit, as docker's units.RAMInBytes (`128m`, `1.5g`, `64MiB`, bytes). */
export function parseBytes(flag: string, value: string): number {
  const match = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/u.exec(value);
  const amount = match?.[1];
  if (match === null || amount === undefined) throw usage(`invalid ${flag} "${value}"`, 'write a size such as 128m, 1g or 67108864 (bytes)');
  const bytes = Math.floor(Number(amount) * (UNITS[(match[2] ?? '').toLowerCase()] ?? 1));
  if (!Number.isSafeInteger(bytes)) throw usage(`${flag} "${value}" is too large`, 'give a size below 8 PiB');
  return bytes;
}

/** The resource flags as typed: one string per limit of the plan's `ExecResources`. */
export type LegacyResourceFlags = { readonly [K in keyof ExecResources]?: string | undefined };

function positiveInteger(flag: string, value: string): number {
  if (!/^\d+$/u.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) === 0) throw usage(`invalid ${flag} "${value}": must be a whole number above 0`, `e.g. ${flag} 1024`);
  return Number(value);
}

const CPUSET = /^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$/u;

/**
 * `--memory`/`-m`, `--memory-swap`, `--cpu-shares`/`-c`, `--cpu-period`, `--cpu-quota`,
 * `--cpuset-cpus`, `--cpuset-mems` as buildx passes them to BuildKit (dockerui parseLinuxResources):
 * sizes take docker's units; `--memory-swap` is memory plus swap, -1 for unlimited swap, and (as
 * docker) needs `--memory` and may not be below it. Undefined when none is given.
 */
export function parseResourceFlags(flags: LegacyResourceFlags): ExecResources | undefined {
  const memory = flags.memory === undefined ? undefined : parseBytes('--memory', flags.memory);
  if (memory === 0) throw usage(`invalid --memory "${flags.memory ?? ''}": must be above 0`, 'e.g. --memory 512m');
  let memorySwap: number | undefined;
  if (flags.memorySwap !== undefined) {
    memorySwap = flags.memorySwap === '-1' ? -1 : parseBytes('--memory-swap', flags.memorySwap);
    if (memorySwap === 0) throw usage(`invalid --memory-swap "${flags.memorySwap}": must be -1 (unlimited) or above 0`, 'e.g. --memory 512m --memory-swap 1g');
    if (memory === undefined) throw usage('--memory-swap needs --memory', 'give --memory too: --memory-swap is the limit of memory plus swap');
    if (memorySwap !== -1 && memorySwap < memory) throw usage(`--memory-swap ${flags.memorySwap} is below --memory ${flags.memory ?? ''}`, '--memory-swap is memory plus swap: give at least the --memory value, or -1');
  }
  for (const [flag, value] of [['--cpuset-cpus', flags.cpusetCpus], ['--cpuset-mems', flags.cpusetMems]] as const) {
    if (value !== undefined && !CPUSET.test(value)) throw usage(`invalid ${flag} "${value}"`, `write a list of numbers and ranges, e.g. ${flag} 0-3,5`);
  }
  const resources: ExecResources = {
    ...(memory !== undefined ? { memory } : {}),
    ...(memorySwap !== undefined ? { memorySwap } : {}),
    ...(flags.cpuShares !== undefined ? { cpuShares: positiveInteger('--cpu-shares', flags.cpuShares) } : {}),
    ...(flags.cpuPeriod !== undefined ? { cpuPeriod: positiveInteger('--cpu-period', flags.cpuPeriod) } : {}),
    ...(flags.cpuQuota !== undefined ? { cpuQuota: positiveInteger('--cpu-quota', flags.cpuQuota) } : {}),
    ...(flags.cpusetCpus !== undefined ? { cpusetCpus: flags.cpusetCpus } : {}),
    ...(flags.cpusetMems !== undefined ? { cpusetMems: flags.cpusetMems } : {}),
  };
  return Object.keys(resources).length > 0 ? resources : undefined;
}

/** `--cgroup-parent PATH` (a cgroupfs path, or a systemd `slice:prefix:`); `..` is refused. */
export function parseCgroupParent(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.split(/[/:]/u).includes('..') || /[\0\n]/u.test(value)) throw usage(`invalid --cgroup-parent "${value}"`, 'give a cgroup path such as ci/builds, without ".."');
  return value;
}

/**
 * `--shm-size 128m`: bytes with an optional binary unit (b, k, m, g, t, p; `kb`, `mib` spellings too),
 * as docker's units.RAMInBytes. 0 or absent: the default (64 MiB).
 */
export function parseShmSize(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const bytes = parseBytes('--shm-size', value);
  if (bytes === 0) return undefined;
  if (bytes < 4096) throw usage(`--shm-size "${value}" is smaller than a page`, 'give at least 4k, e.g. --shm-size 64m');
  return bytes;
}


/**
 * `--ulimit NAME=SOFT[:HARD]` (repeatable; a later one for the same name wins, as docker's UlimitOpt).
 * HARD defaults to SOFT; SOFT may not exceed HARD. `-1` (unlimited) is refused: give a number.
 */
export function parseUlimits(values: readonly string[]): ExecUlimit[] {
  const byName = new Map<string, ExecUlimit>();
  for (const value of values) {
    const eq = value.indexOf('=');
    const name = eq === -1 ? '' : value.slice(0, eq);
    if (eq === -1) throw usage(`invalid --ulimit "${value}"`, 'write --ulimit NAME=SOFT[:HARD], e.g. --ulimit nofile=1024:2048');
    if (!Object.hasOwn(ULIMIT_NAMES, name)) throw usage(`invalid --ulimit "${value}": unknown limit "${name}"`, `limits are ${Object.keys(ULIMIT_NAMES).join(', ')}`);
    const parts = value.slice(eq + 1).split(':');
    if (parts.length > 2) throw usage(`invalid --ulimit "${value}": too many values`, 'write NAME=SOFT or NAME=SOFT:HARD');
    const numbers = parts.map((part) => {
      if (part === '-1') throw usage(`--ulimit "${value}": unlimited (-1) is not supported`, 'give a number');
      if (!/^\d+$/u.test(part) || !Number.isSafeInteger(Number(part))) throw usage(`invalid --ulimit "${value}": "${part}" is not a number`, 'write NAME=SOFT[:HARD] with whole numbers');
      return Number(part);
    });
    const soft = numbers[0] ?? 0;
    const hard = numbers[1] ?? soft;
    if (soft > hard) throw usage(`invalid --ulimit "${value}": the soft limit ${soft} is above the hard limit ${hard}`, 'the soft limit must be less than or equal to the hard limit');
    byName.delete(name);
    byName.set(name, { name, soft, hard });
  }
  return [...byName.values()];
}

const ANNOTATION_TYPE = /^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$/u;

/**
 * `--annotation KEY=VALUE` or `TYPES:KEY=VALUE` with TYPES a comma list of `manifest`,
 * `manifest-descriptor`, `index`, `index-descriptor`, each optionally `TYPE[os/arch]` (buildx). No
 * type means `manifest`. Only single-platform images are built, so index annotations are refused as
 * BuildKit refuses them for a single-platform export, and a platform other than `platform` is refused
 * as BuildKit does ("no platform … found in source").
 */
export function parseAnnotations(values: readonly string[], platform: { os: string; architecture: string; variant?: string | undefined }): ImageAnnotations {
  const manifest: Record<string, string> = {};
  const manifestDescriptor: Record<string, string> = {};
  const target = normalizePlatform(platform);
  for (const value of values) {
    if (value === '') continue;
    const eq = value.indexOf('=');
    if (eq === -1) throw usage(`invalid --annotation "${value}"`, 'write --annotation KEY=VALUE or --annotation manifest:KEY=VALUE');
    const left = value.slice(0, eq);
    const annotationValue = value.slice(eq + 1);
    const colon = left.indexOf(':');
    const key = colon === -1 ? left : left.slice(colon + 1);
    if (key === '') throw usage(`invalid --annotation "${value}": the key is empty`, 'write --annotation KEY=VALUE');
    if (colon === -1) {
      manifest[key] = annotationValue;
      continue;
    }
    for (const typeAndPlatform of left.slice(0, colon).split(',')) {
      const match = ANNOTATION_TYPE.exec(typeAndPlatform);
      if (match === null) throw usage(`invalid --annotation type "${typeAndPlatform}"`, 'a type is manifest, manifest-descriptor, index or index-descriptor, optionally with a platform: manifest[linux/amd64]');
      const type = match[1] ?? '';
      const platformText = match[2];
      if (platformText !== undefined && !platformEquals(parsePlatform(platformText), target)) {
        throw usage(`--annotation "${value}": the image is not built for ${platformText}`, 'give the platform being built, or no platform');
      }
      switch (type) {
        case 'manifest':
          manifest[key] = annotationValue;
          break;
        case 'manifest-descriptor':
          manifestDescriptor[key] = annotationValue;
          break;
        case 'index':
        case 'index-descriptor':
          throw usage(`--annotation "${value}": ${type} annotations need an image index, and a single-platform build makes none`, 'use manifest: or manifest-descriptor: annotations');
        default:
          throw usage(`unknown annotation type "${type}" in --annotation "${value}"`, 'types are manifest, manifest-descriptor, index and index-descriptor');
      }
    }
  }
  return { manifest, manifestDescriptor };
}

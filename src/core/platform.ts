import { StagecraftError } from './errors.js';

declare const platformBrand: unique symbol;

/**
 * A normalized target platform (OCI image-index `platform` semantics). Made only by `parsePlatform`,
 * `normalizePlatform` or `hostPlatform`, so inside `src/` two platforms compare with `platformEquals`
 * and never need re-normalizing.
 *
 * Normalization follows containerd's `platforms.Normalize`, which BuildKit uses for TARGETPLATFORM:
 * - os lower-cased (`macos` → `darwin`);
 * - `x86_64`/`x86-64` → `amd64` (variant `v1` dropped: it is the baseline);
 * - `aarch64` → `arm64`; arm64's baseline variant `v8` (or `8`, `v8.0`) is dropped, so `linux/arm64`
 *   and `linux/arm64/v8` are the same platform;
 * - `armhf` → `arm/v7`, `armel` → `arm/v6`, bare `arm` gets `v7`; `8`/`7`/… become `v8`/`v7`/…;
 * - `i386`/`i686`/`x86` → `386`.
 */
export type Platform = {
  readonly os: string;
  readonly architecture: string;
  /** Absent when the architecture's baseline (see above). */
  readonly variant?: string | undefined;
  readonly osVersion?: string | undefined;
  readonly osFeatures?: readonly string[] | undefined;
} & { readonly [platformBrand]: true };

export interface PlatformFields {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
  readonly osVersion?: string | undefined;
  readonly osFeatures?: readonly string[] | undefined;
}

const COMPONENT_RE = /^[A-Za-z0-9_.-]+$/;
const PLATFORM_HINT = 'platforms look like linux/amd64 or linux/arm64/v8';

function normalizeOs(os: string): string {
  const lower = os.toLowerCase();
  return lower === 'macos' ? 'darwin' : lower;
}

function normalizeArch(architecture: string, variant: string | undefined): { architecture: string; variant: string | undefined } {
  const arch = architecture.toLowerCase();
  let v = variant === undefined || variant === '' ? undefined : variant.toLowerCase();
  switch (arch) {
    case 'i386':
    case 'i486':
    case 'i586':
    case 'i686':
    case 'x86':
    case '386':
      return { architecture: '386', variant: v };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      if (v === 'v1' || v === '1') v = undefined;
      else if (v !== undefined && /^\d+$/.test(v)) v = `v${v}`;
      return { architecture: 'amd64', variant: v };
    case 'aarch64':
    case 'arm64':
      if (v === '8' || v === 'v8' || v === 'v8.0') v = undefined;
      else if (v !== undefined && /^\d+(\.\d+)?$/.test(v)) v = `v${v}`;
      return { architecture: 'arm64', variant: v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (v === undefined) v = 'v7';
      else if (/^\d+$/.test(v)) v = `v${v}`;
      return { architecture: 'arm', variant: v };
    default:
      return { architecture: arch, variant: v };
  }
}

/** Normalizes platform fields (see `Platform`). Throws INVALID_PLATFORM-style USAGE errors for empty parts. */
export function normalizePlatform(fields: PlatformFields): Platform {
  if (!COMPONENT_RE.test(fields.os) || !COMPONENT_RE.test(fields.architecture)) {
    throw new StagecraftError('USAGE', `invalid platform ${JSON.stringify(`${fields.os}/${fields.architecture}`)}`, { hint: PLATFORM_HINT });
  }
  if (fields.variant !== undefined && fields.variant !== '' && !COMPONENT_RE.test(fields.variant)) {
    throw new StagecraftError('USAGE', `invalid platform variant ${JSON.stringify(fields.variant)}`, {
      hint: 'a variant is a short word such as v7 or v8',
    });
  }
  const { architecture, variant } = normalizeArch(fields.architecture, fields.variant);
  const platform: {
    os: string;
    architecture: string;
    variant?: string;
    osVersion?: string;
    osFeatures?: readonly string[];
  } = { os: normalizeOs(fields.os), architecture };
  if (variant !== undefined) platform.variant = variant;
  if (fields.osVersion !== undefined && fields.osVersion !== '') platform.osVersion = fields.osVersion;
  if (fields.osFeatures !== undefined && fields.osFeatures.length > 0) platform.osFeatures = [...fields.osFeatures];
  return Object.freeze(platform) as Platform;
}

/**
 * Parses `os/architecture[/variant]` (e.g. `linux/arm64/v8`), normalized (see `Platform`). `source`
 * names where the text came from in error messages (`--platform`; default `platform`). Errors are
 * USAGE: platforms come from flags and Dockerfiles (whose callers re-locate the error at the line).
 * A comma-separated list is refused (`parsePlatformList` reads one).
 */
export function parsePlatform(text: string, source = 'platform'): Platform {
  if (text.includes(',')) {
    throw new StagecraftError('USAGE', `${source} ${text}: one platform is expected here`, { hint: 'only build takes several platforms (--platform linux/amd64,linux/arm64)' });
  }
  const parts = text.trim().split('/');
  const [os, architecture, variant] = parts;
  if (parts.length < 2 || parts.length > 3 || os === undefined || architecture === undefined || !parts.every((part, i) => COMPONENT_RE.test(part) || (i === 2 && part === ''))) {
    throw new StagecraftError('USAGE', `invalid ${source} ${JSON.stringify(text)}`, { hint: PLATFORM_HINT });
  }
  return normalizePlatform({ os, architecture, variant });
}

/**
 * The platforms of a multi-platform build: each value may be a comma-separated list (`--platform
 * linux/amd64,linux/arm64`, and the flag repeated, as buildx). Normalized, in the order given, each
 * once (`linux/arm64` and `linux/arm64/v8` are one platform). Empty items are refused.
 */
export function parsePlatformList(values: readonly string[], source = 'platform'): Platform[] {
  const out: Platform[] = [];
  for (const value of values) {
    for (const item of value.split(',')) {
      if (item.trim() === '') throw new StagecraftError('USAGE', `${source} ${JSON.stringify(value)}: an empty platform in the list`, { hint: 'separate platforms with single commas: linux/amd64,linux/arm64' });
      const platform = parsePlatform(item, source);
      if (!out.some((p) => platformEquals(p, platform))) out.push(platform);
    }
  }
  return out;
}

/** `os/architecture[/variant]`, the inverse of `parsePlatform` for normalized platforms. */
export function formatPlatform(platform: PlatformFields): string {
  const parts = [platform.os, platform.architecture];
  if (platform.variant !== undefined && platform.variant !== '') parts.push(platform.variant);
  return parts.join('/');
}

/** Same os, architecture and variant (os version and features are not compared). */
export function platformEquals(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? '') === (b.variant ?? '');
}

/**
 * The platform of the machine, from Node's `process.arch` value passed in by the caller (core reads no
 * process state). Linux only: stagecraft runs containers with runc. `armVersion` is
 * `process.config.variables.arm_version` when known.
 */
export function hostPlatform(nodeArch: string, armVersion?: string): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips: 'mips', mipsel: 'mipsle' };
  const architecture = arch[nodeArch] ?? nodeArch;
  const variant = architecture === 'arm' && armVersion !== undefined && armVersion !== '' ? `v${armVersion}` : undefined;
  return normalizePlatform({ os: 'linux', architecture, variant });
}

/**
 * Version ordering per ecosystem: dpkg (Debian policy §5.6.12), apk (apk-tools' ordering of
 * `1.2.3a_rc1_p2-r4`), PEP 440 (the subset pip orders: epoch, release, pre, post, dev, local) and
 * semver 2.0 (npm; Go modules with their `v` prefix, pseudo-versions being pre-releases).
 * Each comparator answers undefined when a version does not parse: the caller skips that match and
 * says so, rather than guess an order.
 */

/** `a` < `b`: negative, equal: 0, greater: positive; undefined when either is not a valid version. */
export type VersionCompare = (a: string, b: string) => number | undefined;

const sign = (n: number): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

// ---------------------------------------------------------------------------------------------
// dpkg

interface DpkgVersion {
  readonly epoch: number;
  readonly upstream: string;
  readonly revision: string;
}

/** Splits `[epoch:]upstream[-revision]`; undefined for what dpkg itself rejects. */
export function parseDpkgVersion(text: string): DpkgVersion | undefined {
  const version = text.trim();
  if (version === '' || /\s/u.test(version)) return undefined;
  let rest = version;
  let epoch = 0;
  const colon = rest.indexOf(':');
  if (colon >= 0) {
    const epochText = rest.slice(0, colon);
    if (!/^\d+$/u.test(epochText)) return undefined;
    epoch = Number(epochText);
    if (!Number.isSafeInteger(epoch) || epoch > 0x7fff_ffff) return undefined;
    rest = rest.slice(colon + 1);
  }
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : '';
  if (upstream === '' || !/^\d/u.test(upstream)) return undefined;
  if (!/^[A-Za-z0-9.+~:-]+$/u.test(upstream) || !/^[A-Za-z0-9.+~]*$/u.test(revision)) return undefined;
  if (dash >= 0 && revision === '') return undefined;
  return { epoch, upstream, revision };
}

/** dpkg's weight of one non-digit character: `~` before everything (even the end), letters before the rest. */
function dpkgOrder(code: number | undefined): number {
  if (code === undefined) return 0;
  if (code === 0x7e) return -1; // ~
  if (code >= 0x30 && code <= 0x39) return 0;
  if ((code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)) return code;
  return code + 256;
}

const isDigit = (code: number | undefined): boolean => code !== undefined && code >= 0x30 && code <= 0x39;

/** dpkg's `verrevcmp`: alternating non-digit and digit runs. */
function verrevcmp(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = dpkgOrder(i < a.length ? a.charCodeAt(i) : undefined);
      const bc = dpkgOrder(j < b.length ? b.charCodeAt(j) : undefined);
      if (ac !== bc) return sign(ac - bc);
      i++;
      j++;
    }
    while (a.charCodeAt(i) === 0x30) i++;
    while (b.charCodeAt(j) === 0x30) j++;
    while (isDigit(a.charCodeAt(i)) && isDigit(b.charCodeAt(j))) {
      if (firstDiff === 0) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a.charCodeAt(i))) return 1;
    if (isDigit(b.charCodeAt(j))) return -1;
    if (firstDiff !== 0) return sign(firstDiff);
  }
  return 0;
}

export const compareDpkg: VersionCompare = (a, b) => {
  const x = parseDpkgVersion(a);
  const y = parseDpkgVersion(b);
  if (x === undefined || y === undefined) return undefined;
  if (x.epoch !== y.epoch) return sign(x.epoch - y.epoch);
  return verrevcmp(x.upstream, y.upstream) || verrevcmp(x.revision, y.revision);
};

// ---------------------------------------------------------------------------------------------
// apk

/** apk suffixes in order; no suffix sits between `rc` and `cvs`. */
const APK_SUFFIXES = ['alpha', 'beta', 'pre', 'rc', '', 'cvs', 'svn', 'git', 'hg', 'p'] as const;
const APK_RE = /^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:-r(\d+))?$/u;

interface ApkVersion {
  readonly numbers: readonly string[];
  readonly letter: string;
  readonly suffixes: readonly { readonly rank: number; readonly n: number }[];
  readonly release: number;
}

export function parseApkVersion(text: string): ApkVersion | undefined {
  const m = APK_RE.exec(text.trim());
  if (m === null) return undefined;
  const suffixes = [...(m[3] ?? '').matchAll(/_([a-z]+)(\d*)/gu)].map((s) => ({
    rank: APK_SUFFIXES.indexOf((s[1] ?? '') as (typeof APK_SUFFIXES)[number]),
    n: s[2] === undefined || s[2] === '' ? 0 : Number(s[2]),
  }));
  return { numbers: (m[1] ?? '').split('.'), letter: m[2] ?? '', suffixes, release: m[4] === undefined ? 0 : Number(m[4]) };
}

/** A component after the first with a leading zero compares as a decimal fraction (apk-tools). */
function apkNumber(a: string, b: string, first: boolean): number {
  if (!first && (a.startsWith('0') || b.startsWith('0'))) return a < b ? -1 : a > b ? 1 : 0;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const NO_SUFFIX = APK_SUFFIXES.indexOf('');

export const compareApk: VersionCompare = (a, b) => {
  const x = parseApkVersion(a);
  const y = parseApkVersion(b);
  if (x === undefined || y === undefined) return undefined;
  const n = Math.max(x.numbers.length, y.numbers.length);
  for (let i = 0; i < n; i++) {
    const p = x.numbers[i];
    const q = y.numbers[i];
    if (p === undefined || q === undefined) {
      // 1.2 < 1.2.1; the longer version wins, whatever follows the shorter one.
      return p === undefined ? -1 : 1;
    }
    const c = apkNumber(p, q, i === 0);
    if (c !== 0) return c;
  }
  if (x.letter !== y.letter) return x.letter < y.letter ? -1 : 1;
  const m = Math.max(x.suffixes.length, y.suffixes.length);
  for (let i = 0; i < m; i++) {
    const p = x.suffixes[i] ?? { rank: NO_SUFFIX, n: 0 };
    const q = y.suffixes[i] ?? { rank: NO_SUFFIX, n: 0 };
    if (p.rank !== q.rank) return sign(p.rank - q.rank);
    if (p.n !== q.n) return sign(p.n - q.n);
  }
  return sign(x.release - y.release);
};

// ---------------------------------------------------------------------------------------------
// PEP 440

const PEP440_RE =
  /^v?(?:(\d+)!)?(\d+(?:\.\d+)*)(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?(?:[-_.]?(dev)[-_.]?(\d+)?)?(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$/iu;

interface Pep440Version {
  readonly epoch: number;
  readonly release: readonly number[];
  /** [phase 0=a 1=b 2=rc, number], or undefined. */
  readonly pre: readonly [number, number] | undefined;
  readonly post: number | undefined;
  readonly dev: number | undefined;
  readonly local: readonly (number | string)[] | undefined;
}

export function parsePep440(text: string): Pep440Version | undefined {
  const m = PEP440_RE.exec(text.trim().toLowerCase());
  if (m === null) return undefined;
  const phase = m[3];
  const pre: [number, number] | undefined = phase === undefined
    ? undefined
    : [phase === 'a' || phase === 'alpha' ? 0 : phase === 'b' || phase === 'beta' ? 1 : 2, Number(m[4] ?? '0')];
  const post = m[5] !== undefined ? Number(m[5]) : m[6] !== undefined ? Number(m[7] ?? '0') : undefined;
  const dev = m[8] !== undefined ? Number(m[9] ?? '0') : undefined;
  const local = m[10]?.split(/[-_.]/u).map((part) => (/^\d+$/u.test(part) ? Number(part) : part));
  const release = (m[2] ?? '0').split('.').map(Number);
  while (release.length > 1 && release[release.length - 1] === 0) release.pop();
  return { epoch: Number(m[1] ?? '0'), release, pre, post, dev, local };
}

function compareLists(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return sign(d);
  }
  return 0;
}

export const comparePep440: VersionCompare = (a, b) => {
  const x = parsePep440(a);
  const y = parsePep440(b);
  if (x === undefined || y === undefined) return undefined;
  if (x.epoch !== y.epoch) return sign(x.epoch - y.epoch);
  const release = compareLists(x.release, y.release);
  if (release !== 0) return release;
  // packaging's key: a dev release with no pre/post sorts before any pre-release of that release.
  const preKey = (v: Pep440Version): readonly number[] =>
    v.pre === undefined && v.post === undefined && v.dev !== undefined ? [-1] : v.pre === undefined ? [3] : [v.pre[0], v.pre[1]];
  const pre = compareLists(preKey(x), preKey(y));
  if (pre !== 0) return pre;
  const post = compareLists(x.post === undefined ? [-1] : [x.post], y.post === undefined ? [-1] : [y.post]);
  if (post !== 0) return post;
  const dev = compareLists(x.dev === undefined ? [Number.MAX_SAFE_INTEGER] : [x.dev], y.dev === undefined ? [Number.MAX_SAFE_INTEGER] : [y.dev]);
  if (dev !== 0) return dev;
  if (x.local === undefined || y.local === undefined) return x.local === y.local ? 0 : x.local === undefined ? -1 : 1;
  const n = Math.max(x.local.length, y.local.length);
  for (let i = 0; i < n; i++) {
    const p = x.local[i];
    const q = y.local[i];
    if (p === undefined || q === undefined) return p === undefined ? -1 : 1;
    if (typeof p !== typeof q) return typeof p === 'number' ? 1 : -1; // numbers sort after strings
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
};

// ---------------------------------------------------------------------------------------------
// semver

const SEMVER_RE = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*)?$/u;

export const compareSemver: VersionCompare = (a, b) => {
  const x = SEMVER_RE.exec(a.trim());
  const y = SEMVER_RE.exec(b.trim());
  if (x === null || y === null) return undefined;
  for (let i = 1; i <= 3; i++) {
    const p = BigInt(x[i] ?? '0');
    const q = BigInt(y[i] ?? '0');
    if (p !== q) return p < q ? -1 : 1;
  }
  const pa = x[4];
  const pb = y[4];
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1;
  const ia = pa.split('.');
  const ib = pb.split('.');
  const n = Math.max(ia.length, ib.length);
  for (let i = 0; i < n; i++) {
    const p = ia[i];
    const q = ib[i];
    if (p === undefined || q === undefined) return p === undefined ? -1 : 1;
    const pn = /^\d+$/u.test(p);
    const qn = /^\d+$/u.test(q);
    if (pn && qn) {
      const d = BigInt(p) - BigInt(q);
      if (d !== 0n) return d < 0n ? -1 : 1;
    } else if (pn !== qn) {
      return pn ? -1 : 1;
    } else if (p !== q) {
      return p < q ? -1 : 1;
    }
  }
  return 0;
};

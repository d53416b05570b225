/**
 * The git work tree a directory is in, read from `.git` itself (no git binary): HEAD → ref → commit
 * (loose refs, packed-refs), the `origin` remote's URL without credentials, and the commit's committer
 * time (a loose object, or one in a pack through its v2 index, deltas applied).
 *
 * A `.git` is input like any other file of the context: every read resolves inside the git directory
 * (a symlink there never leads out), only regular files are opened (a FIFO cannot hang the build),
 * every file and object has a size cap, and every value is checked against its format before it is
 * used (a HEAD that is not a ref or an object id is no git source at all). Anything unreadable or
 * malformed gives `undefined` (or no commit time), never an error.
 */
import { lstat, readdir, realpath } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { constants, inflateSync } from 'node:zlib';
import { directoryScanFs } from './sbom/fs.js';
import type { ScanFs } from './sbom/types.js';
import { withoutCredentials } from './redact-url.js';

export interface GitSource {
  /** `remote.origin.url` without userinfo; absent when there is no origin remote. */
  readonly uri?: string | undefined;
  /** The commit HEAD points at (40 hex digits, 64 in a sha256 repository). */
  readonly commit: string;
  /** The commit's committer time (seconds since the epoch), when the object could be read. */
  readonly commitTime?: number | undefined;
  /** Whether the work tree differs from the commit: not determined (undefined) here. */
  readonly dirty?: boolean | undefined;
  /** The ref HEAD names (`refs/heads/main`); absent for a detached HEAD. */
  readonly ref?: string | undefined;
  /** The directory asked about, relative to the work tree's root (`/`-separated, `''` at the root). */
  readonly subdir?: string | undefined;
}

const SMALL_FILE = 64 * 1024;
const PACKED_REFS_MAX = 64 * 1024 * 1024;
const CONFIG_MAX = 1024 * 1024;
/** A commit object larger than this is not read (commit messages are small). */
const OBJECT_MAX = 4 * 1024 * 1024;
const MAX_SYMREF_DEPTH = 5;
const MAX_DELTA_DEPTH = 50;
const MAX_PARENT_WALK = 256;

const OBJECT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/u;
/** A ref name git would accept, conservatively (no `..`, no control characters, no `@{`). */
const REF_NAME = /^refs\/(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._\-/+]+$/u;

interface Repository {
  readonly workTree: string;
  /** The per-work-tree git directory (HEAD). */
  readonly git: ScanFs;
  /** The common directory (refs, objects, config): the same as `git` except in a linked work tree. */
  readonly common: ScanFs;
  readonly commonPath: string;
}

async function readText(fs: ScanFs, path: string, maxBytes: number): Promise<string | undefined> {
  try {
    return (await fs.readFile(path, { maxBytes }))?.toString('utf8');
  } catch {
    return undefined;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await lstat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** `.git` in `dir`: a directory, or a file `gitdir: <path>` (linked work trees, submodules). Never a symlink. */
async function gitDirOf(dir: string): Promise<string | undefined> {
  const dotGit = join(dir, '.git');
  let info;
  try {
    info = await lstat(dotGit);
  } catch {
    return undefined;
  }
  if (info.isDirectory()) return dotGit;
  if (!info.isFile() || info.size > SMALL_FILE) return undefined;
  const text = await readText(directoryScanFs(dir), '.git', SMALL_FILE);
  const match = /^gitdir: (.+)$/mu.exec(text ?? '');
  if (match?.[1] === undefined) return undefined;
  const target = resolve(dir, match[1].trim());
  return (await isDirectory(target)) ? target : undefined;
}

async function openRepository(start: string): Promise<Repository | undefined> {
  let dir: string;
  try {
    dir = await realpath(start);
  } catch {
    return undefined;
  }
  for (let i = 0; i < MAX_PARENT_WALK; i++) {
    const gitDir = await gitDirOf(dir);
    if (gitDir !== undefined) {
      const git = directoryScanFs(gitDir);
      const commonDir = await readText(git, 'commondir', SMALL_FILE);
      const commonPath = commonDir === undefined ? gitDir : resolve(gitDir, commonDir.trim());
      if (!(await isDirectory(commonPath))) return undefined;
      return { workTree: dir, git, common: commonPath === gitDir ? git : directoryScanFs(commonPath), commonPath };
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
  return undefined;
}

/** The object id a ref names: a loose ref file (maybe symbolic) or a line of packed-refs. */
async function resolveRef(repo: Repository, ref: string, depth = 0): Promise<string | undefined> {
  if (!REF_NAME.test(ref) || depth > MAX_SYMREF_DEPTH) return undefined;
  const loose = (await readText(repo.git, ref, SMALL_FILE)) ?? (repo.common === repo.git ? undefined : await readText(repo.common, ref, SMALL_FILE));
  if (loose !== undefined) {
    const line = loose.trim();
    if (OBJECT_ID.test(line)) return line;
    if (line.startsWith('ref: ')) return resolveRef(repo, line.slice(5).trim(), depth + 1);
    return undefined;
  }
  const packed = await readText(repo.common, 'packed-refs', PACKED_REFS_MAX);
  if (packed === undefined) return undefined;
  for (const line of packed.split('\n')) {
    if (line.startsWith('#') || line.startsWith('^')) continue;
    const space = line.indexOf(' ');
    if (space < 0 || line.slice(space + 1).trim() !== ref) continue;
    const id = line.slice(0, space);
    return OBJECT_ID.test(id) ? id : undefined;
  }
  return undefined;
}

/**
 * The remotes' URLs of a git config file's text, by remote name, as written (sections and keys are
 * case-insensitive, subsections not; the first `url` of a remote counts).
 */
function remotesOfConfig(text: string): Map<string, string> {
  const remotes = new Map<string, string>();
  let remote: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const section = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]/u.exec(line);
    if (section !== null) {
      remote = section[1]?.toLowerCase() === 'remote' ? section[2] : undefined;
      continue;
    }
    if (remote === undefined || remotes.has(remote)) continue;
    const entry = /^url\s*=\s*(.*)$/iu.exec(line);
    if (entry?.[1] === undefined) continue;
    let value = entry[1].trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (value !== '') remotes.set(remote, value);
  }
  return remotes;
}

/** The `url` of `[remote "origin"]`, else of the first remote, in a git config's text (as written). */
export function remoteUrl(config: string): string | undefined {
  const remotes = remotesOfConfig(config);
  return remotes.get('origin') ?? remotes.values().next().value;
}

async function configRemotes(repo: Repository): Promise<Map<string, string>> {
  const text = await readText(repo.common, 'config', CONFIG_MAX);
  return text === undefined ? new Map() : remotesOfConfig(text);
}

/**
 * The remote of the work tree containing `dir` (origin, else the first one) without credentials, or
 * undefined when there is no work tree or no remote: what a build's record names as its project.
 */
export async function gitRemote(dir: string): Promise<string | undefined> {
  const repo = await openRepository(dir);
  if (repo === undefined) return undefined;
  const remotes = await configRemotes(repo);
  const url = remotes.get('origin') ?? remotes.values().next().value;
  return url === undefined ? undefined : withoutCredentials(url);
}

function inflateObject(data: Buffer, size: number): Buffer | undefined {
  try {
    // Bounded: a hostile object cannot inflate past what it declares (nor past OBJECT_MAX).
    const out = inflateSync(data, { maxOutputLength: Math.max(1, Math.min(size, OBJECT_MAX)), finishFlush: constants.Z_SYNC_FLUSH });
    return out.length === size ? out : undefined;
  } catch {
    return undefined;
  }
}

/** A loose object: zlib of `<type> <size>\0<body>`. */
async function looseObject(repo: Repository, id: string): Promise<{ type: string; body: Buffer } | undefined> {
  let data: Buffer | undefined;
  try {
    data = await repo.common.readFile(`objects/${id.slice(0, 2)}/${id.slice(2)}`, { maxBytes: OBJECT_MAX });
  } catch {
    return undefined;
  }
  if (data === undefined) return undefined;
  let raw: Buffer;
  try {
    raw = inflateSync(data, { maxOutputLength: OBJECT_MAX + 64, finishFlush: constants.Z_SYNC_FLUSH });
  } catch {
    return undefined;
  }
  const nul = raw.indexOf(0);
  const header = /^([a-z]+) (\d+)$/u.exec(raw.subarray(0, Math.max(0, nul)).toString('latin1'));
  if (nul < 0 || header?.[1] === undefined) return undefined;
  return { type: header[1], body: raw.subarray(nul + 1) };
}

const PACK_TYPES: Record<number, string> = { 1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag' };

/** The offset of `id` in the pack whose v2 index is `idx` (binary search over the sorted names). */
async function indexOffset(fs: ScanFs, idx: string, id: Buffer): Promise<number | undefined> {
  const head = await fs.readRange(idx, 0, 8 + 256 * 4);
  if (head?.length !== 8 + 256 * 4 || head.readUInt32BE(0) !== 0xff744f63 || head.readUInt32BE(4) !== 2) return undefined;
  const hashSize = id.length;
  const first = id[0] ?? 0;
  const total = head.readUInt32BE(8 + 255 * 4);
  let low = first === 0 ? 0 : head.readUInt32BE(8 + (first - 1) * 4);
  let high = head.readUInt32BE(8 + first * 4);
  if (high > total || low > high) return undefined;
  const names = 8 + 256 * 4;
  while (low < high) {
    const mid = (low + high) >>> 1;
    const name = await fs.readRange(idx, names + mid * hashSize, hashSize);
    if (name?.length !== hashSize) return undefined;
    const order = name.compare(id);
    if (order === 0) {
      const offsets = names + total * hashSize + total * 4;
      const small = await fs.readRange(idx, offsets + mid * 4, 4);
      if (small?.length !== 4) return undefined;
      const value = small.readUInt32BE(0);
      if ((value & 0x80000000) === 0) return value;
      const large = await fs.readRange(idx, offsets + total * 4 + (value & 0x7fffffff) * 8, 8);
      if (large?.length !== 8) return undefined;
      const big = large.readBigUInt64BE(0);
      return big > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(big);
    }
    if (order < 0) low = mid + 1;
    else high = mid;
  }
  return undefined;
}

/** git's delta format: source size, target size, then copy (from the base) and insert instructions. */
function applyDelta(base: Buffer, delta: Buffer): Buffer | undefined {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let shift = 0;
    for (;;) {
      const byte = delta[pos++];
      if (byte === undefined || shift > 28) return -1;
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) return value;
    }
  };
  if (varint() !== base.length) return undefined;
  const size = varint();
  if (size < 0 || size > OBJECT_MAX) return undefined;
  const out = Buffer.alloc(size);
  let written = 0;
  while (pos < delta.length) {
    const op = delta[pos++] ?? 0;
    if ((op & 0x80) !== 0) {
      let offset = 0;
      let length = 0;
      for (let i = 0; i < 4; i++) if ((op & (1 << i)) !== 0) offset += (delta[pos++] ?? 0) * 2 ** (8 * i);
      for (let i = 0; i < 3; i++) if ((op & (0x10 << i)) !== 0) length += (delta[pos++] ?? 0) * 2 ** (8 * i);
      if (length === 0) length = 0x10000;
      if (offset + length > base.length || written + length > size) return undefined;
      base.copy(out, written, offset, offset + length);
      written += length;
    } else if (op !== 0) {
      if (pos + op > delta.length || written + op > size) return undefined;
      delta.copy(out, written, pos, pos + op);
      pos += op;
      written += op;
    } else {
      return undefined;
    }
  }
  return written === size ? out : undefined;
}

/** The object at `offset` of a pack, deltas resolved (OFS_DELTA in the same pack, REF_DELTA through the index). */
async function packObject(fs: ScanFs, pack: string, idx: string, offset: number, hashSize: number, depth: number): Promise<{ type: string; body: Buffer } | undefined> {
  if (depth > MAX_DELTA_DEPTH) return undefined;
  const head = await fs.readRange(pack, offset, 64);
  if (head === undefined || head.length === 0) return undefined;
  let pos = 0;
  let byte = head[pos++] ?? 0;
  const type = (byte >> 4) & 7;
  let size = byte & 0x0f;
  let shift = 4;
  while ((byte & 0x80) !== 0) {
    byte = head[pos++] ?? 0;
    if (pos >= head.length || shift > 32) return undefined;
    size += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  }
  if (size > OBJECT_MAX) return undefined;
  let base: { type: string; body: Buffer } | undefined;
  if (type === 6) {
    byte = head[pos++] ?? 0;
    let back = byte & 0x7f;
    while ((byte & 0x80) !== 0) {
      byte = head[pos++] ?? 0;
      if (pos >= head.length) return undefined;
      back = (back + 1) * 128 + (byte & 0x7f);
    }
    if (back <= 0 || back > offset) return undefined;
    base = await packObject(fs, pack, idx, offset - back, hashSize, depth + 1);
  } else if (type === 7) {
    const baseId = head.subarray(pos, pos + hashSize);
    pos += hashSize;
    const baseOffset = baseId.length === hashSize ? await indexOffset(fs, idx, baseId) : undefined;
    if (baseOffset === undefined) return undefined;
    base = await packObject(fs, pack, idx, baseOffset, hashSize, depth + 1);
  } else if (PACK_TYPES[type] === undefined) {
    return undefined;
  }
  // zlib data follows; it is at most a little larger than the inflated size (plus a margin for tiny objects).
  const compressed = await fs.readRange(pack, offset + pos, Math.min(size + 1024, OBJECT_MAX) + 64);
  if (compressed === undefined) return undefined;
  const data = inflateObject(compressed, size);
  if (data === undefined) return undefined;
  if (type === 6 || type === 7) {
    if (base === undefined) return undefined;
    const body = applyDelta(base.body, data);
    return body === undefined ? undefined : { type: base.type, body };
  }
  return { type: PACK_TYPES[type] ?? 'unknown', body: data };
}

async function packedObject(repo: Repository, id: string): Promise<{ type: string; body: Buffer } | undefined> {
  let names: string[];
  try {
    names = await readdir(join(repo.commonPath, 'objects', 'pack'));
  } catch {
    return undefined;
  }
  const wanted = Buffer.from(id, 'hex');
  for (const name of names.filter((n) => /^pack-[0-9a-f]{40,64}\.idx$/u.test(n)).sort()) {
    const idx = `objects/pack/${name}`;
    const offset = await indexOffset(repo.common, idx, wanted).catch(() => undefined);
    if (offset === undefined) continue;
    return packObject(repo.common, `objects/pack/${name.slice(0, -4)}.pack`, idx, offset, wanted.length, 0).catch(() => undefined);
  }
  return undefined;
}

/** The committer time of a commit object's body. */
function committerTime(body: Buffer): number | undefined {
  const headerEnd = body.indexOf('\n\n');
  const header = body.subarray(0, headerEnd < 0 ? body.length : headerEnd).toString('utf8');
  const match = /^committer .* (\d{1,15}) [+-]\d{4}$/mu.exec(header);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * The git source of `dir`: the work tree containing it (`dir` or a parent), or undefined when there
 * is none or its HEAD names no commit (a new repository, a broken `.git`).
 */
export async function gitSource(dir: string): Promise<GitSource | undefined> {
  const repo = await openRepository(dir);
  if (repo === undefined) return undefined;
  const head = (await readText(repo.git, 'HEAD', SMALL_FILE))?.trim();
  if (head === undefined) return undefined;
  let commit: string | undefined;
  let ref: string | undefined;
  if (head.startsWith('ref: ')) {
    ref = head.slice(5).trim();
    commit = await resolveRef(repo, ref);
  } else if (OBJECT_ID.test(head)) {
    commit = head;
  }
  if (commit === undefined) return undefined;
  const object = (await looseObject(repo, commit)) ?? (await packedObject(repo, commit));
  const commitTime = object?.type === 'commit' ? committerTime(object.body) : undefined;
  const origin = (await configRemotes(repo)).get('origin');
  const uri = origin === undefined ? undefined : withoutCredentials(origin);
  let subdir = '';
  try {
    subdir = relative(repo.workTree, await realpath(dir)).split(sep).join('/');
  } catch {
    subdir = '';
  }
  return { uri, commit, commitTime, ref, subdir };
}

/**
 * The build context: walked once per build (honouring .dockerignore), file contents hashed with a
 * persistent stat cache (a file whose device, inode, size, mtime and ctime are unchanged is not
 * read again), and per-step selections: a COPY's cache key covers exactly the files it selects
 * (content, mode, uid/gid, link target — not mtime), and the step copies from a view holding
 * exactly those files, so what is copied is what was hashed.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readFile, rm, symlink, utimes, chmod, lchown } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { StagecraftError, canonicalJson, phaseTook, sha256Digest, type Digest } from '../core/index.js';
import type { Database, TypedStatement } from '../db/index.js';
import { PatternMatcher, cleanPath, hasWildcards, pathMatch, type MatchInfo } from '../util/patterns.js';
import { Limiter } from '../util/limiter.js';
import { PATH_MAX, asyncStatter, workerStatter, type DirEntryStat, type DirStatter, type EntryStat } from './dir-stats.js';

/** Entries walked on the thread pool before the rest of a context is walked by a worker thread. */
const WORKER_AFTER = 2000;

export interface ContextEntry extends EntryStat {
  /** Relative to the context root, `/`-separated, no leading `./`. */
  readonly path: string;
}

const StatRow = z.object({ path: z.string(), dev: z.number(), ino: z.number(), size: z.number(), mtime_ns: z.string(), ctime_ns: z.string(), digest: z.string() });

function statKey(dev: number, ino: number, size: number, mtimeNs: string): string {
  return `${dev}/${ino}/${size}/${mtimeNs}/`;
}

/**
 * Persistent path → content digest, valid while the file's device, inode, size and mtime are
 * unchanged. Not ctime: like BuildKit's stat-based content hash, which ignores it; and making a
 * context view hardlinks every file, which changes every ctime.
 */
export class StatCache {
  readonly #get: TypedStatement<{ path: string }, z.infer<typeof StatRow>>;
  readonly #put: TypedStatement<{ path: string; dev: number; ino: number; size: number; mtime_ns: string; ctime_ns: string; digest: string }, never>;

  readonly #range: TypedStatement<{ lo: string; hi: string }, z.infer<typeof StatRow>>;
  /** Preloaded rows, one string each (`dev/ino/size/mtime_ns/digest`): a context of 100k files holds 100k of them. */
  readonly #loaded = new Map<string, string>();
  readonly #loadedDirs: string[] = [];
  readonly #pending: { path: string; dev: number; ino: number; size: number; mtime_ns: string; ctime_ns: string; digest: string }[] = [];

  constructor(private readonly db: Database) {
    this.#get = db.statement('SELECT * FROM cache_file_digests WHERE path = :path', StatRow);
    this.#range = db.statement('SELECT * FROM cache_file_digests WHERE path >= :lo AND path < :hi', StatRow);
    this.#put = db.statement(`INSERT INTO cache_file_digests (path, dev, ino, size, mtime_ns, ctime_ns, digest)
      VALUES (:path, :dev, :ino, :size, :mtime_ns, :ctime_ns, :digest)
      ON CONFLICT(path) DO UPDATE SET dev = excluded.dev, ino = excluded.ino, size = excluded.size,
        mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns, digest = excluded.digest`, z.never());
  }

  /**
   * Loads every row under `dir` at once (one query instead of one per file); `lookup` of a path under
   * it then answers from memory.
   */
  preload(dir: string): void {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    // Paths under the prefix sort between "prefix" and "prefix" with its last '/' bumped to '0'.
    for (const row of this.#range.iterate({ lo: prefix, hi: `${prefix.slice(0, -1)}0` })) this.#loaded.set(row.path, `${statKey(row.dev, row.ino, row.size, row.mtime_ns)}${row.digest}`);
    this.#loadedDirs.push(prefix);
  }

  lookup(absolute: string, entry: ContextEntry): string | undefined {
    const key = statKey(entry.dev, entry.ino, entry.size, entry.mtimeNs.toString());
    if (this.#loadedDirs.some((d) => absolute.startsWith(d))) {
      const loaded = this.#loaded.get(absolute);
      return loaded?.startsWith(key) === true ? loaded.slice(key.length) : undefined;
    }
    const row = this.#get.get({ path: absolute });
    if (row === undefined) return undefined;
    return statKey(row.dev, row.ino, row.size, row.mtime_ns) === key ? row.digest : undefined;
  }

  /** Queues a digest; `flush` writes the queue in one transaction. */
  store(absolute: string, entry: ContextEntry, digest: string): void {
    this.#pending.push({ path: absolute, dev: entry.dev, ino: entry.ino, size: entry.size, mtime_ns: entry.mtimeNs.toString(), ctime_ns: entry.ctimeNs.toString(), digest });
  }

  flush(): void {
    const rows = this.#pending.splice(0);
    if (rows.length > 0) this.db.writeTransaction(() => rows.forEach((row) => this.#put.run(row)));
  }
}

/** What a copy checks a source entry against: lstat's fields (bigint). */
export interface SourceStat {
  readonly mode: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly size: bigint;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly mtimeNs: bigint;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/**
 * A context selection as a directory, valid until disposed. `check`, when present: the directory holds
 * more than the selection's snapshot (it is the context itself); call it with each entry's lstat before
 * copying it (it throws when the entry is not what was hashed).
 */
export interface ContextView extends AsyncDisposable {
  readonly path: string;
  readonly check?: ((absolute: string, stat: SourceStat) => void) | undefined;
}

export interface BuildContextOptions {
  readonly dir: string;
  /** .dockerignore patterns. */
  readonly ignore: readonly string[];
  readonly statCache?: StatCache | undefined;
  /** Where selection views are made (same filesystem as the context lets them be hardlinks). */
  readonly viewRoot: string;
  /** Entries walked on the thread pool before a worker thread walks the rest (default 2000; 0: the worker walks all). */
  readonly workerAfter?: number | undefined;
}

/** A selection source from a COPY/ADD, cleaned: `''` selects the whole context. */
export function cleanSource(source: string): string {
  // `--parents` sources: `a/./b` selects `a/b`.
  const cleaned = cleanPath(`/${source.replace(/\/\.\//g, '/')}`).replace(/^\/+/, '');
  return cleaned === '.' ? '' : cleaned;
}

const SMALL_FILE = 1 << 20;

/** The sha256 of a file's bytes: small files in one read, big ones streamed (memory stays flat). */
export async function fileContentDigest(absolute: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  if (size <= SMALL_FILE) hash.update(await readFile(absolute));
  else await pipeline(createReadStream(absolute), hash);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * One selected entry as a content key sees it: path, type, mode, uid, gid, then what it holds (a
 * file's digest, `link:` and a symlink's target, '' for a directory) and any further facts (xattrs,
 * a hardlink's first path). Never its times.
 */
export type ContentLine = readonly [path: string, type: string, mode: number, uid: number, gid: number, content: string, ...facts: string[]];

/** Entries in a preimage's file list at most: a bigger selection is keyed by its digest alone. */
export const MAX_LISTED_FILES = 5000;

/**
 * The digest of a selection (`header`: what selected it, `lines` in path order), and each entry's own
 * digest by path, for explaining a miss (absent past `maxListed` entries).
 */
export function contentDigests(header: Readonly<Record<string, unknown>>, lines: readonly ContentLine[], maxListed = Number.POSITIVE_INFINITY): { digest: Digest; files: [string, string][] | undefined } {
  const digest = sha256Digest(canonicalJson({ ...header, entries: lines }));
  const files = lines.length > maxListed ? undefined : lines.map((l): [string, string] => [l[0], sha256Digest(canonicalJson(l.slice(1)))]);
  return { digest, files };
}


/** A context path for a message: printable ASCII as is, every other byte as `\xNN`. */
function escapeName(bytes: Buffer): string {
  let out = '';
  for (const byte of bytes) out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  return out;
}

function unusableName(rel: string, name: Buffer, length: number): StagecraftError {
  const shown = escapeName(Buffer.concat([Buffer.from(rel === '' ? '' : `${rel}/`), name]));
  if (!Buffer.from(name.toString('utf8'), 'utf8').equals(name)) {
    return new StagecraftError('FILE_OPERATION', `the build context holds a file whose name is not valid UTF-8: "${shown}"`, {
      hint: 'rename it to UTF-8 (e.g. convmv -f latin1 -t utf8), or exclude it in .dockerignore',
    });
  }
  return new StagecraftError('FILE_OPERATION', `the build context path "${shown.slice(0, 120)}…" is ${length} bytes long, more than the ${PATH_MAX - 1} bytes (PATH_MAX) a path may have`, {
    hint: 'shorten the directory tree, or exclude it in .dockerignore',
  });
}

export class BuildContext {
  #entries: Promise<readonly ContextEntry[]> | undefined;
  readonly #digests = new Map<string, Promise<string>>();
  readonly #hashLimit = new Limiter(8);
  readonly #ignore: PatternMatcher;
  /** The walk left something out (.dockerignore, or a special file a view does not hold): a view must be made. */
  #partial = false;
  #byPath: Map<string, ContextEntry> | undefined;

  constructor(private readonly options: BuildContextOptions) {
    this.#ignore = PatternMatcher.create(options.ignore, { source: '.dockerignore' });
    options.statCache?.preload(options.dir);
  }

  get dir(): string {
    return this.options.dir;
  }

  /** Every entry not excluded by .dockerignore, sorted by path. */
  entries(): Promise<readonly ContextEntry[]> {
    this.#entries ??= this.#walk();
    return this.#entries;
  }

  async #walk(): Promise<ContextEntry[]> {
    const begin = performance.now();
    const out: ContextEntry[] = [];
    const small = asyncStatter();
    let big: DirStatter | undefined;
    let listed = 0;
    const list = (rel: string): Promise<DirEntryStat[]> => {
      // A context past `workerAfter` entries is walked by the worker from there on.
      if (listed >= (this.options.workerAfter ?? WORKER_AFTER)) big ??= workerStatter();
      const listing = (big ?? small).list(join(this.options.dir, rel)).then((names) => {
        listed += names.length;
        return names;
      });
      // Awaited in walk order below; a failure of one listed ahead is never unhandled meanwhile.
      listing.catch(() => undefined);
      return listing;
    };
    const visit = async (rel: string, parent: MatchInfo | undefined, listing: Promise<DirEntryStat[]>): Promise<void> => {
      const names = await listing;
      // Decide every name first; then record the entries in name order, entering each subdirectory
      // as it comes (depth first) with the next one's listing already asked for: one directory
      // ahead per level, so a wide tree is never held stat'ed whole.
      const decided: { path: string; matched: boolean; stat: EntryStat; info: MatchInfo; listing?: Promise<DirEntryStat[]> }[] = [];
      for (const { name, bytes, stat } of names) {
        const path = rel === '' ? name : `${rel}/${name}`;
        const { matched, info } = this.#ignore.matchesUsingParent(path, parent);
        if (matched || stat?.type === 'other') this.#partial = true;
        if (stat === undefined) {
          // An excluded name is never read, whatever it is; one that would be sent is refused clearly.
          if (matched) continue;
          throw unusableName(rel, bytes ?? Buffer.from(name), Buffer.byteLength(join(this.options.dir, path)));
        }
        if (matched && !(stat.type === 'dir' && this.#ignore.hasExclusions)) continue;
        decided.push({ path, matched, stat, info });
      }
      const subdirs = decided.filter((d) => d.stat.type === 'dir');
      let nextDir = 0;
      for (const d of decided) {
        if (!d.matched) out.push({ path: d.path, ...d.stat });
        if (d.stat.type !== 'dir') continue;
        const listing = d.listing ?? list(d.path);
        const ahead = subdirs[++nextDir];
        if (ahead !== undefined) ahead.listing = list(ahead.path);
        await visit(d.path, d.info, listing);
      }
    };
    try {
      await visit('', undefined, list(''));
    } finally {
      await big?.close();
    }
    phaseTook(`context: stat walk (${out.length} entries${big === undefined ? '' : ', worker'})`, begin);
    return out;
  }

  /** The entries a COPY of `sources` reads (all when a source is the root). */
  async select(sources: readonly string[], excludes: readonly string[] = []): Promise<ContextEntry[]> {
    const entries = await this.entries();
    const cleaned = sources.map(cleanSource);
    const exclude = excludes.length > 0 ? PatternMatcher.create(excludes, { source: '--exclude' }) : undefined;
    const extra = new Set<string>();
    const selected = (path: string): boolean => cleaned.some((source) => {
      if (source === '') return true;
      const parts = path.split('/');
      const sourceParts = source.split('/');
      if (parts.length < sourceParts.length) return false;
      const prefix = parts.slice(0, sourceParts.length).join('/');
      return hasWildcards(source) ? safeMatch(source, prefix) : prefix === source;
    });
    const out = entries.filter((e) => selected(e.path) && (exclude === undefined || !exclude.matches(e.path)));
    // A symlink named as a source is followed: select what it points at too.
    for (const e of out) {
      if (e.type === 'symlink' && e.linkTarget !== undefined && cleaned.includes(e.path)) {
        extra.add(cleanSource(posix.isAbsolute(e.linkTarget) ? e.linkTarget : posix.join(posix.dirname(e.path), e.linkTarget)));
      }
    }
    if (extra.size > 0) {
      for (const e of await this.select([...extra])) if (!out.includes(e)) out.push(e);
      out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    }
    return out;
  }

  /**
   * A digest over what the selection's files are, not when they were touched, and each file's own
   * digest (for explaining a miss).
   */
  async hash(sources: readonly string[], excludes: readonly string[], signal?: AbortSignal): Promise<{ digest: Digest; files: [string, string][] }> {
    const selection = await this.select(sources, excludes);
    // A bounded set of runners rather than a promise per entry: a cold context of 100k files would
    // otherwise queue 100k hashing tasks at once.
    const lines = new Array<ContentLine>(selection.length);
    await forEachLimited(selection, HASH_RUNNERS, async (e, index) => {
      signal?.throwIfAborted();
      const content = e.type === 'file' ? await this.#fileDigest(e) : e.type === 'symlink' ? `link:${e.linkTarget ?? ''}` : '';
      lines[index] = [e.path, e.type, e.mode, e.uid, e.gid, content];
    });
    this.options.statCache?.flush();
    const { digest, files } = contentDigests({ v: 1, sources: sources.map(cleanSource), excludes }, lines);
    return { digest, files: files ?? [] };
  }

  #fileDigest(entry: ContextEntry): Promise<string> {
    let pending = this.#digests.get(entry.path);
    if (pending === undefined) {
      const absolute = join(this.options.dir, entry.path);
      const cached = this.options.statCache?.lookup(absolute, entry);
      if (cached !== undefined) {
        pending = Promise.resolve(cached);
        this.#digests.set(entry.path, pending);
        return pending;
      }
      pending = this.#hashLimit.run(async () => {
        const digest = await fileContentDigest(absolute, entry.size);
        this.options.statCache?.store(absolute, entry, digest);
        return digest;
      });
      this.#digests.set(entry.path, pending);
    }
    return pending;
  }

  /**
   * `selection` plus the directories before the first wildcard of each wildcard source (`a` for
   * `a/b?/c`), as BuildKit's one context snapshot has them (for view()): a wildcard matching nothing in
   * an existing directory then copies nothing, as there, instead of failing on a missing `a`.
   */
  async #withWildcardBases(selection: ContextEntry[], sources: readonly string[]): Promise<ContextEntry[]> {
    const wanted = new Set<string>();
    for (const source of sources.map(cleanSource)) {
      const parts = source.split('/');
      const wildcard = parts.findIndex((part) => hasWildcards(part));
      for (let i = 1; i <= wildcard; i++) wanted.add(parts.slice(0, i).join('/'));
    }
    if (wanted.size === 0) return selection;
    const have = new Set(selection.map((e) => e.path));
    const extra = (await this.entries()).filter((e) => e.type === 'dir' && wanted.has(e.path) && !have.has(e.path));
    if (extra.length === 0) return selection;
    return [...selection, ...extra].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  /**
   * The whole context as its own view. What a copy reads must be what was hashed: an entry that is not
   * in the walk, or whose inode, type, size, mtime, mode or owner differs from it (a file saved,
   * replaced or added since), fails the step instead of being copied under a key that does not cover
   * it. A view of hardlinks guarded against replaced and added files, not against writes in place;
   * this guards against both, up to the moment of the check.
   */
  #whole(entries: readonly ContextEntry[]): ContextView {
    const byPath = (this.#byPath ??= new Map(entries.map((e) => [e.path, e])));
    const dir = this.options.dir;
    const check = (absolute: string, stat: SourceStat): void => {
      const path = relative(dir, absolute).split(sep).join('/');
      if (path === '') return;
      const walked = byPath.get(path);
      const type = stat.isFile() ? 'file' : stat.isDirectory() ? 'dir' : stat.isSymbolicLink() ? 'symlink' : 'other';
      const same = walked !== undefined && walked.type === type && walked.mode === Number(stat.mode & 0o7777n) && walked.uid === Number(stat.uid) && walked.gid === Number(stat.gid) &&
        (type === 'dir' || (walked.ino === Number(stat.ino) && walked.dev === Number(stat.dev) && walked.size === Number(stat.size) && walked.mtimeNs === stat.mtimeNs));
      if (!same) {
        throw new StagecraftError('FILE_OPERATION', `the build context changed while the build ran: "${path}" ${walked === undefined ? 'appeared' : 'changed'} after its content was hashed`, {
          hint: 'run the build again, and leave the context unchanged while it runs',
        });
      }
    };
    return { path: dir, check, [Symbol.asyncDispose]: () => Promise.resolve() };
  }

  /**
   * A directory holding exactly the selected entries (hardlinks where possible), for the COPY to read.
   * Disposing removes it. A selection of everything in a context that nothing was left out of is the
   * context directory itself, with a check that each copied entry is still the one walked (no
   * thousands of links to make and remove for `COPY . .`).
   */
  async view(sources: readonly string[], excludes: readonly string[]): Promise<ContextView> {
    const selection = await this.#withWildcardBases(await this.select(sources, excludes), sources);
    const entries = await this.entries();
    if (!this.#partial && selection.length === entries.length) return this.#whole(entries);
    await mkdir(this.options.viewRoot, { recursive: true });
    const root = await mkdtemp(join(this.options.viewRoot, 'ctx-'));
    const remove = async (): Promise<void> => {
      await rm(root, { recursive: true, force: true });
    };
    try {
      // Directories first, in path order (a parent sorts before its children); then every file and
      // symlink with a few dozen link() calls in flight: one at a time, a tree of small files is bound
      // by thread-pool round trips, not by the kernel.
      const dirs: ContextEntry[] = [];
      const leaves: ContextEntry[] = [];
      const made = new Set<string>();
      for (const e of selection) {
        const parent = posix.dirname(e.path);
        if (parent !== '.' && !made.has(parent)) {
          made.add(parent);
          await mkdir(join(root, parent), { recursive: true });
        }
        if (e.type === 'dir') {
          if (!made.has(e.path)) await mkdir(join(root, e.path), { recursive: true });
          made.add(e.path);
          dirs.push(e);
        } else if (e.type === 'file' || e.type === 'symlink') {
          leaves.push(e);
        }
      }
      await forEachLimited(leaves, VIEW_WIDTH, async (e) => {
        const target = join(root, e.path);
        if (e.type === 'symlink') {
          await symlink(e.linkTarget ?? '', target);
          await lchown(target, e.uid, e.gid);
          return;
        }
        const source = join(this.options.dir, e.path);
        try {
          await link(source, target);
        } catch {
          await copyFile(source, target);
          await chmod(target, e.mode);
          await lchown(target, e.uid, e.gid);
          await utimes(target, new Date(Number(e.mtimeNs / 1_000_000n)), new Date(Number(e.mtimeNs / 1_000_000n)));
        }
      });
      // Directory metadata last (creating children changes a directory's mtime).
      for (const d of dirs.reverse()) {
        const target = join(root, d.path);
        await chmod(target, d.mode);
        await lchown(target, d.uid, d.gid);
        const time = new Date(Number(d.mtimeNs / 1_000_000n));
        await utimes(target, time, time);
      }
      return { path: root, [Symbol.asyncDispose]: remove };
    } catch (error) {
      await remove();
      throw error;
    }
  }
}

/** Entries hashed at once by one hash() (files also wait for the context's hashing limit). */
const HASH_RUNNERS = 16;

/** Link calls in flight while a view is made. */
const VIEW_WIDTH = 32;

/** `fn` of every item, at most `width` at once; the first failure is thrown once all started calls settled. */
async function forEachLimited<T>(items: readonly T[], width: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { readonly error: unknown } | undefined;
  const runner = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await fn(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, runner));
  if (failure !== undefined) throw failure.error;
}

function safeMatch(pattern: string, name: string): boolean {
  try {
    return pathMatch(pattern, name);
  } catch {
    return false;
  }
}

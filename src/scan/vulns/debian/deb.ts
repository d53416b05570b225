/**
 * The changelog of a downloaded .deb, read while it streams: the .deb is an ar archive (deb(5)) whose
 * `data.tar[.gz|.xz|.zst]` member holds `usr/share/doc/<package>/changelog.Debian.gz`. The tar is read
 * by the project's tar reader; nothing is written to disk; no symlink is followed (a changelog that is
 * a symlink is reported as such). The whole download is hashed and checked against the index's
 * SHA256 before the changelog is trusted.
 */
import { createHash } from 'node:crypto';
import { readTar } from '../../../snapshot/index.js';
import { StagecraftError } from '../../../core/index.js';
import { DecodeProblem, compressionOf, decompressAll, decompressed } from '../decompress.js';

export interface DebLimits {
  /** The most bytes the data.tar may inflate to (the bomb guard). */
  readonly maxTarBytes: number;
  /** The most bytes a changelog may inflate to. */
  readonly maxChangelogBytes: number;
}

export const DEFAULT_DEB_LIMITS: DebLimits = { maxTarBytes: 2 * 1024 ** 3, maxChangelogBytes: 16 << 20 };

export interface DebChangelog {
  /** The changelog text, when a regular `changelog.Debian.gz` was found. */
  readonly text: string | undefined;
  /** The archive path it was read from. */
  readonly path: string | undefined;
  /** Why there is none (a symlink out of the package, no changelog, a bomb). */
  readonly problem: string | undefined;
  /** sha256 (hex) and size of the whole .deb as read. */
  readonly sha256: string;
  readonly size: number;
}

/** Exact reads out of a chunked source. */
class Reader {
  private buffered: Buffer[] = [];
  private length = 0;
  private done = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.length < n && !this.done) {
      const next = await this.source.next();
      if (next.done === true) this.done = true;
      else {
        this.buffered.push(next.value);
        this.length += next.value.length;
      }
    }
  }

  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const all = Buffer.concat(this.buffered);
    const out = all.subarray(0, Math.min(n, all.length));
    const rest = all.subarray(out.length);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.length = rest.length;
    return out;
  }

  /** The next `n` bytes as chunks; `progress.read` counts what was taken, even if the consumer stops early. */
  async *stream(n: number, progress: { read: number } = { read: 0 }): AsyncGenerator<Buffer> {
    let left = n - progress.read;
    while (left > 0) {
      if (this.length === 0) await this.fill(1);
      if (this.length === 0) throw new DecodeProblem('the .deb ends inside an ar member');
      const chunk = this.buffered.shift() ?? Buffer.alloc(0);
      const used = chunk.subarray(0, Math.min(left, chunk.length));
      const rest = chunk.subarray(used.length);
      if (rest.length > 0) this.buffered.unshift(rest);
      this.length -= used.length;
      left -= used.length;
      progress.read += used.length;
      yield used;
    }
  }

  async drain(): Promise<void> {
    for (;;) {
      this.buffered = [];
      this.length = 0;
      await this.fill(1 << 30);
      if (this.done) return;
    }
  }
}

async function* hashing(source: AsyncIterable<Buffer>, state: { hash: ReturnType<typeof createHash>; size: number }): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    state.hash.update(chunk);
    state.size += chunk.length;
    yield chunk;
  }
}

const CHANGELOG_RE = /^(?:\.\/)?usr\/share\/doc\/([^/]+)\/changelog\.Debian\.gz$/u;

/**
 * Reads the changelog of `pkg` out of a .deb streamed from `source`, then reads the rest of the .deb so
 * its digest covers every byte. A malformed archive throws DecodeProblem (after which the digest is
 * meaningless); a missing or symlinked changelog is a `problem`.
 */
export async function debChangelog(source: AsyncIterable<Buffer>, pkg: string, limits: DebLimits = DEFAULT_DEB_LIMITS): Promise<DebChangelog> {
  const state = { hash: createHash('sha256'), size: 0 };
  const reader = new Reader(hashing(source, state)[Symbol.asyncIterator]());
  if ((await reader.read(8)).toString('latin1') !== '!<arch>\n') throw new DecodeProblem('not a .deb (no ar magic)');
  let text: string | undefined;
  let path: string | undefined;
  let problem: string | undefined = 'the package has no usr/share/doc/*/changelog.Debian.gz';
  let sawData = false;
  for (;;) {
    const header = await reader.read(60);
    if (header.length === 0) break;
    if (header.length < 60 || header.toString('latin1', 58, 60) !== '`\n') throw new DecodeProblem('malformed ar member header');
    const name = header.toString('latin1', 0, 16).trim().replace(/\/$/u, '');
    const size = Number(header.toString('latin1', 48, 58).trim());
    if (!Number.isSafeInteger(size) || size < 0) throw new DecodeProblem(`ar member ${JSON.stringify(name)} has a bad size`);
    if (name.startsWith('data.tar') && !sawData) {
      sawData = true;
      const progress = { read: 0 };
      const compression = compressionOf(name);
      if (compression === undefined) throw new DecodeProblem(`unsupported data member ${name}`);
      const found = await changelogInTar(decompressed(reader.stream(size, progress), compression, limits.maxTarBytes, `${name} of ${pkg}`), pkg, limits);
      ({ text, path, problem } = found);
      for await (const _ of reader.stream(size, progress)) void _; // whatever the decoder left unread
    } else {
      for await (const _ of reader.stream(size)) void _;
    }
    if (size % 2 === 1) await reader.read(1);
  }
  await reader.drain();
  return { text, path, problem, sha256: state.hash.digest('hex'), size: state.size };
}

async function changelogInTar(tar: AsyncIterable<Buffer>, pkg: string, limits: DebLimits): Promise<{ text: string | undefined; path: string | undefined; problem: string | undefined }> {
  let best: { text: string; path: string } | undefined;
  let symlink: string | undefined;
  try {
    for await (const entry of readTar(tar, { invalid: (fault) => new StagecraftError('ARCHIVE_INVALID', `data.tar of ${pkg}: ${fault}`) })) {
      const m = CHANGELOG_RE.exec(entry.header.name);
      if (m === null) continue;
      if (entry.header.type === 'symlink' || entry.header.type === 'link') {
        if (m[1] === pkg) symlink = `${entry.header.name} is a ${entry.header.type} to ${entry.header.linkname}`;
        continue;
      }
      if (entry.header.type !== 'file') continue;
      // Any regular changelog of the package is its source's changelog; the package's own doc dir first.
      if (best !== undefined && m[1] !== pkg) continue;
      const raw = await decompressAll(entry.body, 'gzip', limits.maxChangelogBytes, `${entry.header.name} of ${pkg}`);
      best = { text: raw.toString('utf8'), path: entry.header.name.replace(/^\.\//u, '') };
    }
  } catch (error) {
    if (error instanceof DecodeProblem) throw error;
    throw new DecodeProblem(error instanceof Error ? error.message : String(error));
  }
  if (best !== undefined) return { ...best, problem: undefined };
  return { text: undefined, path: undefined, problem: symlink === undefined ? `no regular usr/share/doc/*/changelog.Debian.gz in ${pkg}` : `${symlink}, not read (symlinks are never followed)` };
}

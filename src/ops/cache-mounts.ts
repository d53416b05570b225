/**
 * Persistent `RUN --mount=type=cache` directories, kept across builds under the state root and shared
 * by every process that uses the root:
 *   sharing=shared   one directory used by every step at once;
 *   sharing=locked   one user at a time, across processes (others wait);
 *   sharing=private  a step gets a directory no running step of any process uses (a new one if all
 *                    are busy).
 * The cross-process exclusion is the state root's lock table (cache/locks.ts): a SIGKILLed holder's
 * lock is stale at once, so a killed build never blocks the next one.
 *
 * A cache is identified as BuildKit identifies it: by its id together with the directory it starts
 * from, which the Dockerfile frontend makes from uid, gid and mode (`getRefCacheDir` keys by
 * `id + ":" + ref`). So `id=x,uid=1000` and `id=x,uid=0` are two caches, each created with its own
 * owner and mode, and two mounts that differ only in sharing use the same one.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, chown, lstat, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { StoreLocks } from '../cache/index.js';

export interface CacheMountRequest {
  readonly id: string;
  readonly sharing: 'shared' | 'private' | 'locked';
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

export interface CacheMountLease extends AsyncDisposable {
  readonly path: string;
}

/** The directory name of a cache: a hash of its id and the uid, gid and mode it is created with. */
export function cacheMountDirName(request: Pick<CacheMountRequest, 'id' | 'uid' | 'gid' | 'mode'>): string {
  return createHash('sha256').update(`${request.id}\0${request.uid}:${request.gid}:${request.mode.toString(8)}`).digest('hex').slice(0, 32);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

export class CacheMountPool {
  constructor(
    private readonly root: string,
    private readonly locks: StoreLocks,
  ) {}

  async acquire(request: CacheMountRequest, signal: AbortSignal): Promise<CacheMountLease> {
    const base = join(this.root, cacheMountDirName(request));
    if (request.sharing === 'private') {
      // The first instance no live step holds; lock first, then use, so two processes never pick
      // the same one.
      for (let index = 0; ; index++) {
        signal.throwIfAborted();
        const path = join(base, String(index));
        const held = this.locks.tryAcquire(`cache-mount:${path}`, 'exclusive');
        if (held === null) continue;
        return this.#holding(path, held, request);
      }
    }
    const path = join(base, 'shared');
    if (request.sharing === 'shared') {
      await this.#ensure(path, request);
      return { path, [Symbol.asyncDispose]: () => Promise.resolve() };
    }
    return this.#holding(path, await this.locks.acquire(`cache-mount:${path}`, 'exclusive', signal), request);
  }

  /** The cache directory `path`, made if missing, leased while `held` is: released on dispose or failure. */
  async #holding(path: string, held: { release(): void }, request: CacheMountRequest): Promise<CacheMountLease> {
    try {
      await this.#ensure(path, request);
    } catch (error) {
      held.release();
      throw error;
    }
    return { path, [Symbol.asyncDispose]: () => { held.release(); return Promise.resolve(); } };
  }

  /**
   * Creates the cache directory with its owner and mode in a temp dir renamed into place, so no
   * step (of this or another process) sees it before its owner and mode are set.
   */
  async #ensure(path: string, request: CacheMountRequest): Promise<void> {
    if (await exists(path)) return;
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    await mkdir(temp);
    try {
      await chown(temp, request.uid, request.gid);
      await chmod(temp, request.mode);
      // Another step may have created it meanwhile (with the same owner and mode: they are part of
      // the cache's name); keep theirs.
      if (!(await exists(path))) await rename(temp, path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }
}

/**
 * Persistent `RUN --mount=type=cache` directories, kept across builds under the state root.
 * sharing=shared: one directory used by every step at once; locked: one user at a time (others wait);
 * private: a step gets a directory no running step uses (a new one if all are busy).
 */
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Semaphore } from '../solver/index.js';

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

export class CacheMountPool {
  readonly #locks = new Map<string, Semaphore>();
  readonly #busyPrivate = new Set<string>();

  constructor(private readonly root: string) {}

  async acquire(request: CacheMountRequest, signal: AbortSignal): Promise<CacheMountLease> {
    const base = join(this.root, createHash('sha256').update(request.id).digest('hex').slice(0, 32));
    if (request.sharing === 'private') {
      await mkdir(base, { recursive: true });
      const existing = (await readdir(base)).sort();
      let name = existing.find((n) => !this.#busyPrivate.has(join(base, n)));
      if (name === undefined) name = String(existing.length);
      const path = join(base, name);
      this.#busyPrivate.add(path);
      await this.#ensure(path, request);
      return { path, [Symbol.asyncDispose]: () => { this.#busyPrivate.delete(path); return Promise.resolve(); } };
    }
    const path = join(base, 'shared');
    await this.#ensure(path, request);
    if (request.sharing === 'shared') return { path, [Symbol.asyncDispose]: () => Promise.resolve() };
    let lock = this.#locks.get(path);
    if (lock === undefined) {
      lock = new Semaphore(1);
      this.#locks.set(path, lock);
    }
    const release = await lock.acquire(signal);
    return { path, [Symbol.asyncDispose]: () => { release(); return Promise.resolve(); } };
  }

  async #ensure(path: string, request: CacheMountRequest): Promise<void> {
    const created = await mkdir(path, { recursive: true });
    if (created !== undefined) {
      await chown(path, request.uid, request.gid);
      await chmod(path, request.mode);
    }
  }
}

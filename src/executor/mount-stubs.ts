/**
 * Mount points runc creates in the rootfs for mounts whose target is missing ("stubs"), recorded
 * before the run so they can be removed after it: a RUN step's mounts leave no trace in its layer.
 * The parents' timestamps are restored too. Both are done by walking from the root with no symlink
 * followed (util/root-path.ts): the step may have replaced any directory on the way by a symlink;
 * such a stub is left where it is, and nothing outside the rootfs is removed or touched.
 */
import { lstat, rmdir, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { at, errnoCode, walkInRoot, withDirInRoot } from '../util/root-path.js';

export class MountStubs {
  /** Stubs and parents as components below the root, keyed by their joined form. */
  readonly #stubs = new Map<string, readonly string[]>();
  readonly #parents = new Map<string, { parts: readonly string[]; atime: Date; mtime: Date }>();

  readonly #root: string;

  constructor(root: string) {
    this.#root = resolve(root);
  }

  /** Records the missing parts of the container path `target`. */
  async record(target: string): Promise<void> {
    const { parts, existing } = await walkInRoot(this.#root, target);
    if (existing === parts.length) return;
    for (let depth = existing + 1; depth <= parts.length; depth++) {
      const stub = parts.slice(0, depth);
      this.#stubs.set(stub.join('/'), stub);
    }
    const parentParts = parts.slice(0, existing);
    const key = parentParts.join('/');
    if (!this.#parents.has(key)) {
      const info = await lstat(join(this.#root, ...parentParts));
      if (info.isDirectory()) this.#parents.set(key, { parts: parentParts, atime: info.atime, mtime: info.mtime });
    }
  }

  /** Removes recorded stubs that are still empty (deepest first), then restores parent times. */
  async remove(): Promise<void> {
    const stubs = [...this.#stubs.values()].sort((a, b) => b.length - a.length);
    for (const parts of stubs) {
      const name = parts[parts.length - 1];
      if (name === undefined) continue;
      await withDirInRoot(this.#root, parts.slice(0, -1), async (dir) => {
        try {
          // lstat, rmdir and unlink act on the entry itself: a symlink there is neither removed through nor followed.
          const info = await lstat(at(dir, name));
          if (info.isDirectory()) await rmdir(at(dir, name));
          else if (info.isFile() && info.size === 0) await unlink(at(dir, name));
        } catch (error) {
          const code = errnoCode(error);
          if (code !== 'ENOENT' && code !== 'ENOTDIR' && code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EBUSY') throw error;
        }
      });
    }
    for (const { parts, atime, mtime } of this.#parents.values()) {
      await withDirInRoot(this.#root, parts, (dir) => dir.utimes(atime, mtime));
    }
  }
}

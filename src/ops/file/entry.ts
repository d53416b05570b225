/**
 * Per-entry metadata helpers shared by copy and archive extraction: ownership, xattrs and special
 * files. Everything works on the entry itself, never through a final symlink.
 */
import type * as XattrAddon from '@napi-rs/xattr';
import { lazyModule } from '../../util/lazy-module.js';
import type { BigIntStats } from 'node:fs';
import { lchown, writeFile } from 'node:fs/promises';
import { StagecraftError } from '../../core/index.js';
import { isOverlayXattr, unmappedOwner } from '../../snapshot/index.js';
import { currentUserNamespace } from '../../util/userns.js';
import { runProcess } from '../../util/process.js';
import { errnoCode } from '../../util/root-path.js';
import { type Owner } from './root.js';

const xattr = lazyModule<typeof XattrAddon>('@napi-rs/xattr', import.meta.url);

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Sets the owner of `path`. An explicit owner (`--chown`) that cannot be set is an error; preserving a
 * source owner is best effort when not running as root (a rootless build keeps its own uid).
 */
export async function setOwner(path: string, owner: Owner, explicit: boolean): Promise<void> {
  try {
    await lchown(path, owner.uid, owner.gid);
  } catch (error) {
    // Root of a user namespace (rootless): an id outside its map is EINVAL.
    if (errnoCode(error) === 'EINVAL' && currentUserNamespace() !== undefined) throw unmappedOwner(`the copy of ${path}`, owner.uid, owner.gid);
    if (errnoCode(error) !== 'EPERM' || isRoot()) throw error;
    if (explicit) {
      throw new StagecraftError('FILE_OPERATION', `cannot change the owner of copied files to ${owner.uid}:${owner.gid}: operation not permitted`, {
        hint: 'setting another owner needs root; run stagecraft as root or drop --chown',
        cause: error,
      });
    }
  }
}

/** Xattr names never copied into a rootfs: they would steer overlayfs (user.overlay.* when mounted with userxattr, rootless). */
function skippedXattr(name: string): boolean {
  return isOverlayXattr(name);
}

/** Copies the xattrs of `src` onto `dst`, best effort (BuildKit logs and ignores xattr errors). */
export async function copyXattrs(src: string, dst: string): Promise<void> {
  let names: string[];
  try {
    names = await xattr().listAttributes(src);
  } catch {
    return;
  }
  for (const name of names.sort()) {
    if (skippedXattr(name)) continue;
    try {
      const value = await xattr().getAttribute(src, name);
      if (value !== null) await xattr().setAttribute(dst, name, value);
    } catch {
      // unsupported on the destination filesystem, not permitted (security.*, trusted.*), or a symlink
    }
  }
}

/**
 * The xattrs `copyXattrs` would copy from `path`, as sorted `[name, base64 value]` pairs (none where
 * the filesystem has none or they cannot be read).
 */
export async function readCopiedXattrs(path: string): Promise<[string, string][]> {
  let names: string[];
  try {
    names = await xattr().listAttributes(path);
  } catch {
    return [];
  }
  const out: [string, string][] = [];
  for (const name of names.sort()) {
    if (skippedXattr(name)) continue;
    try {
      const value = await xattr().getAttribute(path, name);
      if (value !== null) out.push([name, value.toString('base64')]);
    } catch {
      // not readable here: not copied either
    }
  }
  return out;
}

/** Writes archive xattrs onto `path`, best effort (go-archive's `BestEffortXattrs`). */
export async function writeXattrs(path: string, xattrs: ReadonlyMap<string, Buffer>): Promise<void> {
  for (const [name, value] of xattrs) {
    if (skippedXattr(name)) continue;
    try {
      await xattr().setAttribute(path, name, value);
    } catch {
      // see copyXattrs
    }
  }
}

export type SpecialKind = 'char' | 'block' | 'fifo';

/** Creates a device node or FIFO with mknod(1) (no Node binding exists for mknod(2)). */
export async function makeSpecial(path: string, kind: SpecialKind, major: number, minor: number, signal: AbortSignal): Promise<void> {
  const args = kind === 'fifo' ? [path, 'p'] : [path, kind === 'char' ? 'c' : 'b', String(major), String(minor)];
  const result = await runProcess('mknod', args, { signal });
  if (result.code !== 0) {
    throw new StagecraftError('FILE_OPERATION', `mknod ${args.slice(1).join(' ')} failed: ${result.stderr.trim()}`, {
      hint: 'device nodes need root (CAP_MKNOD)',
    });
  }
}

/** Linux `dev_t` → major/minor (glibc's encoding). */
export function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { major, minor };
}

/** Recreates a source special file at `dst`: devices and FIFOs with mknod, a socket as an empty file (as fsutil). */
export async function copySpecial(stat: BigIntStats, dst: string, signal: AbortSignal): Promise<void> {
  if (stat.isSocket()) {
    await writeFile(dst, '', { flag: 'wx', mode: 0o600 });
    return;
  }
  const kind: SpecialKind = stat.isFIFO() ? 'fifo' : stat.isCharacterDevice() ? 'char' : 'block';
  const { major, minor } = deviceNumbers(stat.rdev);
  await makeSpecial(dst, kind, major, minor, signal);
}

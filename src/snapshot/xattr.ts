/**
 * Extended attributes of a path itself (never through a final symlink): `@napi-rs/xattr` wraps
 * l{get,set,list,remove}xattr(2), which Node's fs lacks.
 */
import type * as XattrAddon from '@napi-rs/xattr';
import { lazyModule } from '../util/lazy-module.js';

const xattr = lazyModule<typeof XattrAddon>('@napi-rs/xattr', import.meta.url);

export const OVERLAY_OPAQUE = 'trusted.overlay.opaque';
/** The opaque marker of an overlay mounted with `userxattr` (in a user namespace, where trusted.* cannot be written). */
export const OVERLAY_OPAQUE_USER = 'user.overlay.opaque';

/** overlayfs's own xattrs (either namespace): they steer the mount, so they never come from or go into a layer. */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.');
}
export const CAPABILITY = 'security.capability';

function isUnsupported(error: unknown): boolean {
  const text = String((error as { message?: unknown } | undefined)?.message ?? error);
  return /ENOTSUP|EOPNOTSUPP|not supported/iu.test(text);
}

/**
 * All xattrs of `path` (sorted by name); none on filesystems without xattr support. Synchronous, for
 * walks that batch their fs calls (sync-fs.ts): one llistxattr(2), plus one lgetxattr(2) per name.
 */
export function readXattrsSync(path: string): Map<string, Buffer> {
  let names: string[];
  try {
    names = xattr().listAttributesSync(path);
  } catch (error) {
    if (isUnsupported(error)) return new Map();
    throw error;
  }
  const result = new Map<string, Buffer>();
  for (const name of names.sort()) {
    const value = xattr().getAttributeSync(path, name);
    if (value !== null) result.set(name, value);
  }
  return result;
}

/** One xattr of `path` itself (null when absent or unsupported), synchronously: one lgetxattr(2). */
export function readXattrSync(path: string, name: string): Buffer | null {
  try {
    return xattr().getAttributeSync(path, name);
  } catch (error) {
    if (isUnsupported(error)) return null;
    throw error;
  }
}

export async function writeXattr(path: string, name: string, value: Buffer): Promise<void> {
  await xattr().setAttribute(path, name, value);
}

/**
 * Mounting through util-linux's mount(8) / umount(8) (Node has no mount(2) binding), run via
 * util/process.ts. Overlay lowerdirs are passed relative to `cwd` so that long chains stay under the
 * kernel's one-page limit for mount options.
 */
import { readFile, rm } from 'node:fs/promises';
import { StagecraftError } from '../core/index.js';
import { runProcess } from '../util/process.js';

/** A mount as in the OCI runtime spec: what an executor needs to reproduce it. */
export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}

export interface MountCommand extends Mount {
  /** Directory the relative paths in `options` are relative to. */
  readonly cwd?: string | undefined;
}

export async function mountAt(mount: MountCommand, target: string, signal?: AbortSignal): Promise<void> {
  const args = ['-t', mount.type, mount.source, target];
  if (mount.options.length > 0) args.splice(2, 0, '-o', mount.options.join(','));
  const result = await runProcess('mount', args, { cwd: mount.cwd, signal });
  if (result.code !== 0) {
    throw new StagecraftError('SNAPSHOT', `cannot mount ${mount.type} at ${target}: ${result.stderr.trim() || `mount exited with ${result.code}`}`, {
      hint: mount.type === 'overlay'
        ? 'overlayfs needs root (or a user namespace) and a kernel with overlay support; use the copy snapshotter where it is unavailable'
        : 'mounting needs root',
    });
  }
}

/** Unmounts `target`; falls back to a lazy unmount when it is busy. Unmounted targets are fine. */
export async function unmount(target: string): Promise<void> {
  if (!(await isMounted(target))) return;
  let result = await runProcess('umount', [target]);
  if (result.code !== 0 && (await isMounted(target))) {
    result = await runProcess('umount', ['-l', target]);
    if (result.code !== 0 && (await isMounted(target))) {
      throw new StagecraftError('SNAPSHOT', `cannot unmount ${target}: ${result.stderr.trim()}`, {
        hint: 'a process may still use the directory; stop it and run `umount` on the path',
      });
    }
  }
}

/** Decodes the octal escapes (\040 for space, …) of /proc/self/mountinfo fields. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/gu, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Mount points of this process's mount namespace. */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text.split('\n').filter((line) => line !== '').map((line) => unescape(line.split(' ')[4] ?? ''));
}

export async function isMounted(target: string): Promise<boolean> {
  return (await mountPoints()).includes(target);
}

/**
 * Removes the tree at `dir` after unmounting every mount point at or under it (deepest first), so
 * the removal never reaches through a leftover mount into what it shows (a bind-mounted host
 * directory, a lower layer). Refuses when a mount cannot be removed.
 */
export async function removeUnmounted(dir: string): Promise<void> {
  const under = (await mountPoints()).filter((m) => m === dir || m.startsWith(`${dir}/`));
  for (const target of [...new Set(under)].sort((a, b) => b.length - a.length)) await unmount(target);
  const left = (await mountPoints()).filter((m) => m === dir || m.startsWith(`${dir}/`));
  if (left.length > 0) {
    throw new StagecraftError('SNAPSHOT', `cannot remove ${dir}: ${left[0] ?? dir} is still mounted`, {
      hint: `unmount it (umount -l ${left[0] ?? dir}) and run the command again`,
    });
  }
  await rm(dir, { recursive: true, force: true });
}

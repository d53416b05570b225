/**
 * runc state left by a build process that was killed (SIGKILL skips every cleanup): its containers
 * keep running in their own process group and its state directory stays. Each build keeps its runc
 * state in `<parent>/<owner>-<id>`; this removes the directories of owners that are gone, killing and
 * deleting their containers first.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ownerAlive } from '../util/owner.js';
import { runProcess } from '../util/process.js';

export async function sweepRuncState(parent: string, runcPath = 'runc'): Promise<number> {
  let swept = 0;
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    const owner = /^(\d+-\d+)-[a-f0-9]+$/.exec(name)?.[1];
    if (owner === undefined || ownerAlive(owner)) continue;
    const root = join(parent, name);
    const listed = await runProcess(runcPath, ['--root', root, 'list', '--quiet']).catch(() => undefined);
    for (const id of (listed?.stdout ?? '').split('\n').filter((line) => line !== '')) {
      await runProcess(runcPath, ['--root', root, 'kill', id, 'KILL']).catch(() => undefined);
      await runProcess(runcPath, ['--root', root, 'delete', '--force', id]).catch(() => undefined);
    }
    await rm(root, { recursive: true, force: true });
    swept++;
  }
  return swept;
}

/**
 * Which process owns a temp file or mount: `<pid>-<start time>` from /proc (pids are reused; the
 * pair is not), so leftovers of a crashed or killed process can be told from those of a live one.
 */
import { readFileSync } from 'node:fs';

function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

/** This process's owner id. */
export const PROCESS_OWNER = `${process.pid}-${startTime(process.pid) ?? '0'}`;

/** Whether the process that wrote `owner` is still running. */
export function ownerAlive(owner: string): boolean {
  const [pid, start] = owner.split('-');
  return pid !== undefined && /^\d+$/.test(pid) && startTime(Number(pid)) === start;
}

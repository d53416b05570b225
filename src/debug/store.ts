/**
 * The kept states of failed RUN steps, one directory per build under `<stateRoot>/debug/`:
 *
 *   <buildId>/record.json   what ran (record.ts), naming the kept rootfs snapshot
 *   <buildId>/log           the step's whole output (stdout and stderr as they came)
 *   .staging-<owner>-<rand>/   a step's log while it runs; renamed to <buildId> when it fails and is kept
 *   .removing-<owner>-<rand>/  a state being removed (its snapshot first, then the directory)
 *
 * A state appears by one rename, whole or not at all, so concurrent builds never see a partial one;
 * every temporary name carries its owner (util/owner.ts) so `cleanup()` removes only what a dead
 * process left. The first failed step of a build is the one kept (a second finds the name taken).
 * The kept snapshot is removed with its record: `removeSnapshot` is the snapshotter's.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { lstat, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { writeFileAtomic } from '../util/atomic.js';
import { PROCESS_OWNER, ownerAlive } from '../util/owner.js';
import { BUILD_ID_RE, debugRecordSchema, type DebugRecord } from './record.js';

/** The log of one step is kept up to this many bytes; what comes after is counted, not stored. */
export const DEBUG_LOG_LIMIT = 256 * 1024 * 1024;

export interface DebugStoreOptions {
  /** `<stateRoot>/debug` */
  readonly root: string;
  /** Removes a kept rootfs snapshot by id (absent: no-op). */
  readonly removeSnapshot: (id: string) => Promise<void>;
  /** Told about a damaged record (the state is skipped, not fatal). */
  readonly warn?: ((message: string) => void) | undefined;
}

/** A step's output being recorded; `publish` keeps it as a build's state, `discard` drops it. */
export interface StagedState {
  write(chunk: Buffer): void;
  /** Keeps the log and `record` as `record.buildId`'s state; false if that build already has one. */
  publish(record: DebugRecord): Promise<boolean>;
  discard(): Promise<void>;
}

function ownedName(prefix: string): string {
  return `${prefix}${PROCESS_OWNER}-${randomBytes(6).toString('hex')}`;
}

function ownerOf(name: string): string | undefined {
  return /^\.(?:staging|removing)-(\d+-\d+)-/u.exec(name)?.[1];
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export class DebugStore {
  readonly root: string;
  readonly #removeSnapshot: (id: string) => Promise<void>;
  readonly #warn: (message: string) => void;

  constructor(options: DebugStoreOptions) {
    this.root = options.root;
    this.#removeSnapshot = options.removeSnapshot;
    this.#warn = options.warn ?? (() => undefined);
  }

  /** The directory of a build's state (whether or not it exists). */
  dir(buildId: string): string {
    if (!BUILD_ID_RE.test(buildId)) throw new Error(`debug: invalid build id ${buildId}`);
    return join(this.root, buildId);
  }

  /** Starts recording a step's output in a staging directory of this process. */
  async stage(): Promise<StagedState> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const dir = join(this.root, ownedName('.staging-'));
    await mkdir(dir, { mode: 0o700 });
    const logPath = join(dir, 'log');
    const stream: WriteStream = createWriteStream(logPath, { flags: 'wx', mode: 0o600 });
    let streamError: unknown;
    stream.on('error', (error) => {
      streamError = error;
    });
    let written = 0;
    let dropped = 0;
    let closed = false;
    const close = async (): Promise<void> => {
      if (closed) return;
      closed = true;
      if (dropped > 0) stream.write(`\n[stagecraft: ${dropped} more bytes of output were not kept: the log limit is ${DEBUG_LOG_LIMIT} bytes]\n`);
      stream.end();
      await finished(stream).catch(() => undefined);
    };
    return {
      write: (chunk) => {
        if (closed) return;
        if (written + chunk.length > DEBUG_LOG_LIMIT) {
          const room = Math.max(0, DEBUG_LOG_LIMIT - written);
          if (room > 0) stream.write(chunk.subarray(0, room));
          written += room;
          dropped += chunk.length - room;
          return;
        }
        written += chunk.length;
        stream.write(chunk);
      },
      publish: async (record) => {
        await close();
        if (streamError !== undefined) this.#warn(`debug: the log of the failed step is incomplete: ${streamError instanceof Error ? streamError.message : 'write error'}`);
        await writeFileAtomic(join(dir, 'record.json'), `${JSON.stringify(record, null, 2)}\n`, 0o600);
        try {
          await rename(dir, this.dir(record.buildId));
          return true;
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          await rm(dir, { recursive: true, force: true });
          if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
          throw error;
        }
      },
      discard: async () => {
        await close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  }

  /** The record of a build's kept state, or undefined; a damaged record is a warning. */
  async get(buildId: string): Promise<DebugRecord | undefined> {
    const file = join(this.dir(buildId), 'record.json');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return undefined;
    }
    const parsed = debugRecordSchema.safeParse(parseJson(text));
    if (!parsed.success || parsed.data.buildId !== buildId) {
      this.#warn(`debug: ${file} is damaged and was skipped (remove its directory, or run stagecraft prune)`);
      return undefined;
    }
    return parsed.data;
  }

  /** Kept states, newest first. */
  async list(): Promise<DebugRecord[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const records: DebugRecord[] = [];
    for (const name of names) {
      if (!BUILD_ID_RE.test(name)) continue;
      const record = await this.get(name);
      if (record !== undefined) records.push(record);
    }
    return records.sort((a, b) => b.time - a.time || a.buildId.localeCompare(b.buildId));
  }

  /** Build ids with a state directory, damaged ones included. */
  async ids(): Promise<string[]> {
    return (await readdir(this.root).catch(() => [] as string[])).filter((name) => BUILD_ID_RE.test(name));
  }

  /** Removes a build's state: out of sight in one rename, then its snapshot, then its files. */
  async remove(buildId: string): Promise<boolean> {
    const doomed = join(this.root, ownedName('.removing-'));
    try {
      await rename(this.dir(buildId), doomed);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    await this.#finishRemoval(doomed);
    return true;
  }

  async #finishRemoval(dir: string): Promise<void> {
    const parsed = debugRecordSchema.safeParse(parseJson(await readFile(join(dir, 'record.json'), 'utf8').catch(() => '')));
    // A stage bind's snapshot is a layer chain other builds share: only the step's own rootfs goes.
    if (parsed.success) await this.#removeSnapshot(parsed.data.snapshot);
    await rm(dir, { recursive: true, force: true });
  }

  /**
   * Keeps the newest `limit` states (0: none), and any that `busy` says a debug session uses;
   * returns the removed ids.
   */
  async trim(limit: number, busy: (buildId: string) => boolean = () => false): Promise<string[]> {
    const removed: string[] = [];
    const records = await this.list();
    for (const record of records.slice(Math.max(0, limit))) {
      if (busy(record.buildId)) continue;
      if (await this.remove(record.buildId)) removed.push(record.buildId);
    }
    return removed;
  }

  /** Total bytes of the records and logs (the kept rootfs snapshots are counted with the snapshots). */
  async size(): Promise<number> {
    let total = 0;
    for (const id of await this.ids()) {
      for (const name of ['record.json', 'log']) {
        const info = await lstat(join(this.root, id, name)).catch(() => undefined);
        if (info?.isFile() === true) total += info.blocks * 512;
      }
    }
    return total;
  }

  /** Removes what dead processes left: staging logs, and half-done removals (their snapshot too). */
  async cleanup(): Promise<void> {
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      const owner = ownerOf(name);
      if (owner === undefined || ownerAlive(owner)) continue;
      if (name.startsWith('.removing-')) await this.#finishRemoval(join(this.root, name));
      else await rm(join(this.root, name), { recursive: true, force: true });
    }
  }
}

/**
 * Leases: whoever is about to use blobs that no reference holds yet (a pull in flight, a build's
 * intermediate layers, a load) takes a lease and adds each blob to it; GC keeps leased blobs and
 * everything they reference. A lease's id starts with its process's owner id (`<pid>-<start time>`),
 * so the leases of a killed process end at the next `expire()`; the expiry bounds the rest.
 */
import { randomUUID } from 'node:crypto';
import { PROCESS_OWNER, ownerAlive } from '../util/owner.js';
import { z } from 'zod';
import type { Digest } from '../core/index.js';
import type { Lease } from './store.js';
import type { ContentStore } from './store.js';

export interface CreateLeaseOptions {
  /** Shown by `list`; e.g. `pull docker.io/library/busybox:latest`. */
  readonly label?: string;
  /** Lifetime if never released (default 24 h). */
  readonly ttlMs?: number;
}

export interface LeaseInfo {
  readonly id: string;
  readonly label: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly blobs: number;
}

const DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

export class LeaseManager {
  readonly #store: ContentStore;

  constructor(store: ContentStore) {
    this.#store = store;
  }

  create(options: CreateLeaseOptions = {}): Lease {
    const id = `${PROCESS_OWNER}-${randomUUID()}`;
    const now = this.#store.clock();
    const db = this.#store.db;
    db.command('INSERT INTO content_leases (id, label, created_at, expires_at) VALUES (@id, @label, @now, @expires)')({
      id,
      label: options.label ?? '',
      now,
      expires: now + (options.ttlMs ?? DEFAULT_TTL_MS),
    });
    const add = db.command<{ id: string; digest: string }>('INSERT OR IGNORE INTO content_lease_blobs (lease_id, digest) VALUES (@id, @digest)');
    const remove = db.command<{ id: string }>('DELETE FROM content_leases WHERE id = @id');
    let released = false;
    const lease: Lease = {
      id,
      add(digest: Digest) {
        if (released) throw new Error(`lease ${id} used after release`);
        add({ id, digest });
      },
      release() {
        if (released) return;
        released = true;
        remove({ id });
      },
      [Symbol.asyncDispose]() {
        lease.release();
        return Promise.resolve();
      },
    };
    return lease;
  }

  list(): LeaseInfo[] {
    return this.#store.db
      .statement<Record<string, never>, LeaseInfo>(
        `SELECT l.id AS id, l.label AS label, l.created_at AS createdAt, l.expires_at AS expiresAt,
                (SELECT count(*) FROM content_lease_blobs b WHERE b.lease_id = l.id) AS blobs
         FROM content_leases l ORDER BY l.created_at, l.id`,
        z.object({ id: z.string(), label: z.string(), createdAt: z.number(), expiresAt: z.number(), blobs: z.number() }),
      )
      .all({});
  }

  /** Deletes leases whose expiry has passed or whose process is gone; returns how many. */
  expire(now: number = this.#store.clock()): number {
    const db = this.#store.db;
    let removed = db.command<{ now: number }>('DELETE FROM content_leases WHERE expires_at <= @now')({ now }).changes;
    const drop = db.command<{ id: string }>('DELETE FROM content_leases WHERE id = @id');
    for (const { id } of db.statement<Record<string, never>, { id: string }>('SELECT id FROM content_leases', z.object({ id: z.string() })).all({})) {
      const owner = /^(\d+-\d+)-/u.exec(id)?.[1];
      if (owner !== undefined && !ownerAlive(owner)) removed += drop({ id }).changes;
    }
    return removed;
  }

  /** Every digest held by a live lease. */
  leasedDigests(): Set<string> {
    const rows = this.#store.db
      .statement<Record<string, never>, { digest: string }>('SELECT DISTINCT digest FROM content_lease_blobs', z.object({ digest: z.string() }))
      .all({});
    return new Set(rows.map((row) => row.digest));
  }

  isLeased(digest: Digest): boolean {
    return this.#store.db
      .statement<{ digest: string }, { n: number }>('SELECT count(*) AS n FROM content_lease_blobs WHERE digest = @digest', z.object({ n: z.number() }))
      .get({ digest })?.n !== 0;
  }
}

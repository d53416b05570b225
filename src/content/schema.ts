/** The content module's tables (owner "content"): blobs, leases and references. */
import type { Migration } from '../db/index.js';

export const CONTENT_SCHEMA_OWNER = 'content';

export const CONTENT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'blobs, leases, references and a change generation for GC',
    up: `
      CREATE TABLE content_blobs (
        digest TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        touched_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE content_leases (
        id TEXT PRIMARY KEY,
        label TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE content_lease_blobs (
        lease_id TEXT NOT NULL REFERENCES content_leases(id) ON DELETE CASCADE,
        digest TEXT NOT NULL,
        PRIMARY KEY (lease_id, digest)
      ) STRICT;
      CREATE INDEX content_lease_blobs_digest ON content_lease_blobs(digest);
      CREATE TABLE content_references (
        name TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        media_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        platform TEXT,
        index_digest TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      ) STRICT;
      CREATE TABLE content_meta (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) STRICT;
      INSERT INTO content_meta (key, value) VALUES ('generation', 0);
    `,
  },
  {
    version: 2,
    description: 'layer conversions: a blob recompressed (or decompressed) once, found again by source and kind',
    up: `
      CREATE TABLE content_conversions (
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        digest TEXT NOT NULL,
        size INTEGER NOT NULL,
        media_type TEXT NOT NULL,
        PRIMARY KEY (source, kind)
      ) STRICT;
    `,
  },
];

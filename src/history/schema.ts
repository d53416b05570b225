/**
 * The build history's tables in the state root's metadata database (owner `history`): one row per
 * build, its steps, its warnings and its step output (compressed, never clipped). BuildKit keeps the
 * same facts in its BuildHistoryRecord (control.proto); here they are rows, so SLIs are SQL.
 */
import type { Migration } from '../db/index.js';

export const HISTORY_SCHEMA_OWNER = 'history';

export const HISTORY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'build history: builds, steps, warnings, compressed step logs',
    up: `
      CREATE TABLE history_builds (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        context TEXT NOT NULL,
        dockerfile TEXT NOT NULL,
        target TEXT NOT NULL,
        platform TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        ended_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('success', 'failed', 'cancelled')),
        error_code TEXT,
        error_message TEXT,
        error_file TEXT,
        error_line INTEGER,
        error_vertex TEXT,
        request TEXT NOT NULL,
        image_digest TEXT,
        config_digest TEXT,
        image_size INTEGER,
        steps_total INTEGER NOT NULL,
        steps_executed INTEGER NOT NULL,
        steps_cached INTEGER NOT NULL,
        warnings INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX history_builds_started ON history_builds(started_at);
      CREATE INDEX history_builds_project ON history_builds(project, target, started_at);
      CREATE TABLE history_steps (
        build_id TEXT NOT NULL REFERENCES history_builds(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        vertex TEXT NOT NULL,
        name TEXT NOT NULL,
        stage TEXT,
        status TEXT NOT NULL CHECK (status IN ('done', 'cached', 'failed', 'cancelled', 'running')),
        started_at INTEGER NOT NULL,
        duration_ms INTEGER,
        miss_reasons TEXT,
        exit_code INTEGER,
        error TEXT,
        layer_digest TEXT,
        layer_size INTEGER,
        file TEXT,
        line INTEGER,
        PRIMARY KEY (build_id, seq)
      ) STRICT;
      CREATE TABLE history_warnings (
        build_id TEXT NOT NULL REFERENCES history_builds(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        rule TEXT,
        message TEXT NOT NULL,
        file TEXT,
        line INTEGER,
        col INTEGER,
        url TEXT,
        detail TEXT,
        PRIMARY KEY (build_id, seq)
      ) STRICT;
      CREATE TABLE history_logs (
        build_id TEXT NOT NULL REFERENCES history_builds(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        encoding TEXT NOT NULL CHECK (encoding IN ('deflate')),
        size INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (build_id, seq)
      ) STRICT;
    `,
  },
  {
    version: 2,
    description: 'build history: supply-chain facts (SBOM, provenance, signature, scans), push bytes, promotion, base-image pulls',
    // NULL where a fact is unknown (a failed build, or a record from before this version), so the SLIs
    // tell "no data" apart from 0.
    up: `
      ALTER TABLE history_builds ADD COLUMN sbom INTEGER CHECK (sbom IN (0, 1));
      ALTER TABLE history_builds ADD COLUMN provenance INTEGER CHECK (provenance IN (0, 1));
      ALTER TABLE history_builds ADD COLUMN signed INTEGER CHECK (signed IN (0, 1));
      ALTER TABLE history_builds ADD COLUMN sbom_packages INTEGER;
      ALTER TABLE history_builds ADD COLUMN sbom_purl INTEGER;
      ALTER TABLE history_builds ADD COLUMN sbom_license INTEGER;
      ALTER TABLE history_builds ADD COLUMN vulns_scanned INTEGER NOT NULL DEFAULT 0 CHECK (vulns_scanned IN (0, 1));
      ALTER TABLE history_builds ADD COLUMN vulns_data INTEGER CHECK (vulns_data IN (0, 1));
      ALTER TABLE history_builds ADD COLUMN vulns_critical INTEGER;
      ALTER TABLE history_builds ADD COLUMN vulns_high INTEGER;
      ALTER TABLE history_builds ADD COLUMN vulns_medium INTEGER;
      ALTER TABLE history_builds ADD COLUMN vulns_low INTEGER;
      ALTER TABLE history_builds ADD COLUMN vulns_unknown INTEGER;
      ALTER TABLE history_builds ADD COLUMN secrets INTEGER;
      ALTER TABLE history_builds ADD COLUMN push_bytes INTEGER;
      ALTER TABLE history_builds ADD COLUMN promoted INTEGER CHECK (promoted IN (0, 1));
      CREATE INDEX history_builds_status ON history_builds(status, started_at);
      CREATE TABLE history_pulls (
        build_id TEXT NOT NULL REFERENCES history_builds(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        ref TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        blobs INTEGER NOT NULL,
        PRIMARY KEY (build_id, seq)
      ) STRICT;
    `,
  },
  {
    version: 3,
    description: "build history: each step's cache key, the build's trace id",
    // NULL in records from before this version (and for steps the solver never looked up: the unvisited
    // steps of a fully cached build), so old databases read as before.
    up: `
      ALTER TABLE history_steps ADD COLUMN cache_key TEXT;
      ALTER TABLE history_builds ADD COLUMN trace_id TEXT;
    `,
  },
];

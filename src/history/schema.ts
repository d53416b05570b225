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
];

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { isStagecraftError } from '../../src/core/index.js';
import { Database, type Migration } from '../../src/db/index.js';

const MIGRATIONS: Migration[] = [
  { version: 1, description: 'items', up: 'CREATE TABLE t_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL) STRICT' },
  { version: 2, description: 'add size', up: 'ALTER TABLE t_items ADD COLUMN size INTEGER NOT NULL DEFAULT 0' },
];

describe('db: database and migrations', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-db-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('opens in WAL mode with a busy timeout, creating the parent directory', () => {
    const db = Database.open(join(dir, 'nested', 'a.db'));
    try {
      assert.equal(db.pragma('journal_mode'), 'wal');
      assert.equal(db.pragma('busy_timeout'), 30_000);
      assert.equal(db.pragma('foreign_keys'), 1);
    } finally {
      db.close();
    }
  });

  it('applies each migration once, in order, and records it per owner', () => {
    const path = join(dir, 'b.db');
    const first = Database.open(path);
    assert.deepEqual(first.migrate('items', MIGRATIONS.slice(0, 1)), [1]);
    assert.equal(first.schemaVersion('items'), 1);
    assert.deepEqual(first.migrate('items', MIGRATIONS), [2], 'only the new step runs');
    assert.deepEqual(first.migrate('items', MIGRATIONS), [], 'nothing runs twice');
    assert.equal(first.schemaVersion('other'), 0, 'owners are independent');
    first.close();
    const again = Database.open(path);
    assert.deepEqual(again.migrate('items', MIGRATIONS), []);
    const insert = again.command<{ name: string; size: number }>('INSERT INTO t_items (name, size) VALUES (@name, @size)');
    insert({ name: 'a', size: 3 });
    const rows = again.statement<{ min: number }, { name: string; size: number }>('SELECT name, size FROM t_items WHERE size >= @min', z.object({ name: z.string(), size: z.number() })).all({ min: 1 });
    assert.deepEqual(rows, [{ name: 'a', size: 3 }]);
    again.close();
  });

  it('rolls back a failing migration entirely', () => {
    const db = Database.open(join(dir, 'c.db'));
    try {
      const bad: Migration[] = [{ version: 1, description: 'broken', up: 'CREATE TABLE t_ok (x INTEGER); CREATE TABLE broken (' }];
      assert.throws(() => db.migrate('bad', bad));
      assert.equal(db.schemaVersion('bad'), 0);
      const tables = db.statement<Record<string, never>, { name: string }>("SELECT name FROM sqlite_master WHERE name = 't_ok'", z.object({ name: z.string() })).all({});
      assert.deepEqual(tables, [], 'the first statement was rolled back too');
    } finally {
      db.close();
    }
  });

  it('refuses a database whose schema is newer than the code', () => {
    const path = join(dir, 'd.db');
    const db = Database.open(path);
    db.migrate('items', MIGRATIONS);
    db.close();
    const old = Database.open(path);
    try {
      assert.throws(() => old.migrate('items', MIGRATIONS.slice(0, 1)), (error) => isStagecraftError(error) && error.code === 'STORE_CORRUPT' && /newer/.test(error.message));
    } finally {
      old.close();
    }
  });

  it('checks rows against their schema when read', () => {
    const db = Database.open(join(dir, 'e.db'));
    try {
      db.migrate('items', MIGRATIONS);
      db.command<{ name: string }>('INSERT INTO t_items (name) VALUES (@name)')({ name: 'x' });
      const wrong = db.statement<Record<string, never>, { name: number }>('SELECT name FROM t_items', z.object({ name: z.number() }));
      assert.throws(() => wrong.all({}), z.ZodError);
    } finally {
      db.close();
    }
  });

  it('rejects migrations with gaps in their numbering (a programming error)', () => {
    const db = Database.open(join(dir, 'f.db'));
    try {
      assert.throws(() => db.migrate('gap', [{ version: 2, description: 'x', up: 'SELECT 1' }]), /without gaps/);
    } finally {
      db.close();
    }
  });

  it('runs a write transaction atomically', () => {
    const db = Database.open(join(dir, 'g.db'));
    try {
      db.migrate('items', MIGRATIONS);
      const insert = db.command<{ name: string }>('INSERT INTO t_items (name) VALUES (@name)');
      assert.throws(() => db.writeTransaction(() => {
        insert({ name: 'one' });
        throw new Error('boom');
      }), /boom/);
      const count = db.statement<Record<string, never>, { n: number }>('SELECT count(*) AS n FROM t_items', z.object({ n: z.number() })).get({});
      assert.equal(count?.n, 0);
    } finally {
      db.close();
    }
  });
});

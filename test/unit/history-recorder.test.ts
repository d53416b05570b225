import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Database } from '../../src/db/index.js';
import { RecordingSink, type BuildEvent } from '../../src/events/index.js';
import { remoteUrl, withoutCredentials } from '../../src/attest/index.js';
import { HISTORY_SCHEMA_OWNER, HistoryRecorder, HistoryStore, buildRequest, type BuildRequest } from '../../src/history/index.js';
import { routeImageHistory } from '../../src/cli/commands/build-history.js';

const V1 = 'sha256:' + '1'.repeat(64);
const V2 = 'sha256:' + '2'.repeat(64);
const V3 = 'sha256:' + '3'.repeat(64);
const LAYER = 'sha256:' + 'a'.repeat(64);

function request(overrides: Partial<BuildRequest['facts']> = {}): BuildRequest {
  return {
    project: '/src/app', context: '/src/app', dockerfile: '/src/app/Dockerfile', platform: 'linux/amd64',
    facts: { buildArgs: [{ name: 'VERSION', value: '1.2' }], secrets: ['token'], ssh: [], tags: ['app:1'], outputs: [], noCache: false, push: false, ...overrides },
  };
}

/** Feeds `events` through a recorder on `db`; returns what reached the next sink. */
function record(db: Database, events: readonly BuildEvent[], locate: (r: HistoryRecorder) => void = () => undefined, req: BuildRequest = request()): { next: RecordingSink; recorder: HistoryRecorder } {
  const next = new RecordingSink();
  const recorder = new HistoryRecorder({ open: () => new HistoryStore(db), request: req, next });
  locate(recorder);
  for (const event of events) recorder.emit(event);
  return { next, recorder };
}

describe('history: the recorder and store', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stagecraft-history-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('records a successful build: steps (cached, executed with miss reasons), layers, lines, warnings with rule and location, image, whole logs', () => {
    using db = Database.open(join(dir, 'ok.db'));
    const bigLog = 'x'.repeat(300_000) + '\nlast line\n';
    const events: BuildEvent[] = [
      { type: 'build.started', time: 1000, buildId: 'b1', target: 'app', vertices: 0 },
      { type: 'build.warning', time: 1001, message: 'JSON arguments recommended for CMD', rule: 'JSONArgsRecommended', location: { file: 'Dockerfile', line: 7, column: 1 }, url: 'https://docs.docker.com/go/dockerfile/rule/json-args-recommended/', detail: 'use CMD ["app"]' },
      { type: 'vertex.cached', time: 1002, vertex: V1, name: '[app 1/3] FROM busybox', stage: 'app' },
      { type: 'vertex.started', time: 1003, vertex: V2, name: '[app 2/3] RUN make', stage: 'app', inputs: [V1] },
      { type: 'cache.miss', time: 1004, vertex: V2, key: 'sha256:k', reasons: ['the command changed'] },
      { type: 'vertex.log', time: 1005, vertex: V2, stream: 'stdout', data: bigLog.slice(0, 1000) },
      { type: 'vertex.log', time: 1006, vertex: V2, stream: 'stderr', data: bigLog.slice(1000) },
      { type: 'vertex.completed', time: 1500, vertex: V2, durationMs: 497 },
      { type: 'build.warning', time: 1600, message: 'plain warning' },
      { type: 'build.completed', time: 2000, durationMs: 1000, executed: 1, cached: 1, image: { digest: 'sha256:' + 'm'.repeat(64), configDigest: 'sha256:' + 'c'.repeat(64), size: 4242 } },
    ];
    const { next, recorder } = record(db, events, (r) => {
      r.locate(V2, { file: 'Dockerfile', line: 3 });
      r.layer(V2, { digest: LAYER, size: 512 });
    });
    assert.deepEqual(next.events.map((e) => e.type), events.map((e) => e.type), 'every event goes on, unchanged, in order');
    assert.ok((recorder.writeMs ?? -1) >= 0);
    const store = new HistoryStore(db);
    const found = store.get('b1');
    assert.ok(found !== undefined);
    assert.equal(found.build.status, 'success');
    assert.equal(found.build.target, 'app');
    assert.deepEqual(found.build.image, { digest: 'sha256:' + 'm'.repeat(64), configDigest: 'sha256:' + 'c'.repeat(64), size: 4242 });
    assert.deepEqual(found.build.steps, { total: 2, executed: 1, cached: 1 });
    assert.equal(found.build.warnings, 2);
    assert.equal(found.build.endedAt - found.build.startedAt, 1000);
    assert.deepEqual(found.build.request.buildArgs, [{ name: 'VERSION', value: '1.2' }]);
    assert.deepEqual(found.steps.map((s) => [s.seq, s.status, s.stage, s.durationMs]), [[1, 'cached', 'app', 0], [2, 'done', 'app', 497]]);
    assert.deepEqual(found.steps[1]?.missReasons, ['the command changed']);
    assert.deepEqual(found.steps[1]?.layer, { digest: LAYER, size: 512 });
    assert.deepEqual(found.steps[1]?.location, { file: 'Dockerfile', line: 3 });
    assert.equal(found.steps[0]?.layer, undefined);
    assert.deepEqual(found.warnings[0], { seq: 1, rule: 'JSONArgsRecommended', message: 'JSON arguments recommended for CMD', location: { file: 'Dockerfile', line: 7, column: 1 }, url: 'https://docs.docker.com/go/dockerfile/rule/json-args-recommended/', detail: 'use CMD ["app"]' });
    assert.deepEqual(found.warnings[1], { seq: 2, message: 'plain warning' });
    const logs = store.logs('b1');
    assert.deepEqual(logs.map((l) => l.seq), [2]);
    assert.equal(logs[0]?.text, bigLog, 'the whole output, not clipped');
    assert.equal(store.list().length, 1);
  });

  it('records a failed build with its error code, Dockerfile line, failing step and exit code', () => {
    using db = Database.open(join(dir, 'fail.db'));
    record(db, [
      { type: 'build.started', time: 10, buildId: 'f1', target: '', vertices: 0 },
      { type: 'vertex.started', time: 11, vertex: V1, name: '[2/2] RUN false', inputs: [] },
      { type: 'vertex.log', time: 12, vertex: V1, stream: 'stderr', data: 'boom\n' },
      { type: 'vertex.failed', time: 20, vertex: V1, error: '[2/2] RUN false: process "/bin/sh -c false" did not complete successfully: exit code: 3', durationMs: 9 },
      { type: 'build.failed', time: 21, durationMs: 11, error: 'RUN false failed', code: 'BUILD_STEP_FAILED', location: { file: 'Dockerfile', line: 4 }, vertex: V1 },
    ], (r) => r.locate(V1, { file: 'Dockerfile', line: 4 }));
    const found = new HistoryStore(db).get('f1');
    assert.equal(found?.build.status, 'failed');
    assert.deepEqual(found?.build.error, { message: 'RUN false failed', code: 'BUILD_STEP_FAILED', location: { file: 'Dockerfile', line: 4 }, vertex: V1 });
    assert.equal(found?.steps[0]?.status, 'failed');
    assert.equal(found?.steps[0]?.exitCode, 3);
    assert.deepEqual(found?.build.steps, { total: 1, executed: 1, cached: 0 });
    assert.equal(new HistoryStore(db).logs('f1')[0]?.text, 'boom\n');
  });

  it('records a cancelled build: ABORTED is "cancelled", and steps still running end cancelled', () => {
    using db = Database.open(join(dir, 'cancel.db'));
    record(db, [
      { type: 'build.started', time: 10, buildId: 'c1', target: '', vertices: 0 },
      { type: 'vertex.started', time: 11, vertex: V1, name: 'RUN sleep 100', inputs: [] },
      { type: 'vertex.started', time: 11, vertex: V3, name: 'RUN sleep 200', inputs: [] },
      { type: 'vertex.canceled', time: 50, vertex: V1 },
      { type: 'build.failed', time: 60, durationMs: 50, error: 'interrupted', code: 'ABORTED' },
    ]);
    const found = new HistoryStore(db).get('c1');
    assert.equal(found?.build.status, 'cancelled');
    assert.equal(found?.build.error?.code, 'ABORTED');
    assert.deepEqual(found?.steps.map((s) => [s.status, s.durationMs]), [['cancelled', 39], ['cancelled', 49]]);
  });

  it('never stores a secret value: the request keeps secret and ssh ids only (the database file bytes are searched)', async () => {
    const path = join(dir, 'secret.db');
    const secretValue = 'S3CR3T-VALUE-7f1e2d';
    const req = await buildRequest({
      contextDir: dir, dockerfile: join(dir, 'Dockerfile'), platform: 'linux/amd64',
      buildArgs: new Map([['PLAIN', 'visible-arg']]),
      secrets: new Map([['npm_token', Buffer.from(secretValue)]]),
      ssh: new Map([['default', `/tmp/agent-${secretValue}.sock`]]),
      tags: [], outputs: [], noCache: false, push: false,
    });
    {
      using db = Database.open(path);
      record(db, [
        { type: 'build.started', time: 1, buildId: 's1', target: '', vertices: 0 },
        { type: 'build.completed', time: 2, durationMs: 1, executed: 0, cached: 0 },
      ], undefined, req);
      const found = new HistoryStore(db).get('s1');
      assert.deepEqual(found?.build.request.secrets, ['npm_token']);
      assert.deepEqual(found?.build.request.ssh, ['default']);
      db.pragma('wal_checkpoint(TRUNCATE)');
    }
    const bytes = Buffer.concat([await readFile(path), await readFile(`${path}-wal`).catch(() => Buffer.alloc(0))]);
    assert.ok(bytes.includes(Buffer.from('visible-arg')), 'the build arg is stored (the search works)');
    assert.ok(bytes.includes(Buffer.from('npm_token')));
    assert.ok(!bytes.includes(Buffer.from('S3CR3T-VALUE')), 'no secret value or ssh socket path in the file');
  });

  it('a history of a newer schema is one warning, and the build events go on unrecorded', () => {
    using db = Database.open(join(dir, 'newer.db'));
    new HistoryStore(db);
    db.writeTransaction(() => db.command('INSERT INTO schema_migrations (owner, version, description, applied_at) VALUES (@owner, 99, @d, 0)')({ owner: HISTORY_SCHEMA_OWNER, d: 'from the future' }));
    const events: BuildEvent[] = [
      { type: 'build.started', time: 1, buildId: 'n1', target: '', vertices: 0 },
      { type: 'vertex.started', time: 2, vertex: V1, name: 'RUN x', inputs: [] },
      { type: 'build.completed', time: 3, durationMs: 2, executed: 1, cached: 0 },
    ];
    const { next } = record(db, events);
    const warnings = next.events.filter((e) => e.type === 'build.warning');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.type === 'build.warning' ? warnings[0].message : '', /build history cannot be used.*schema version 99 of "history", newer than this stagecraft knows/);
    assert.deepEqual(next.events.filter((e) => e.type !== 'build.warning'), events, 'the build events all go on');
  });

  it('damaged history tables are one warning (when written), and the build goes on', () => {
    using db = Database.open(join(dir, 'damaged.db'));
    new HistoryStore(db);
    db.writeTransaction(() => {
      db.command('DROP TABLE history_logs')({});
      db.command('CREATE TABLE history_logs (junk TEXT)')({});
    });
    const { next } = record(db, [
      { type: 'build.started', time: 1, buildId: 'd1', target: '', vertices: 0 },
      { type: 'build.completed', time: 3, durationMs: 2, executed: 0, cached: 0 },
    ]);
    const warnings = next.events.filter((e) => e.type === 'build.warning');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.type === 'build.warning' ? warnings[0].message : '', /build history/);
    assert.deepEqual(next.events.map((e) => e.type), ['build.started', 'build.warning', 'build.completed']);
  });

  it('a write that fails (a trigger refuses the steps) is one warning, not a thrown error, and nothing partial is stored', () => {
    using db = Database.open(join(dir, 'write-fail.db'));
    new HistoryStore(db);
    db.writeTransaction(() => db.command("CREATE TRIGGER no_steps BEFORE INSERT ON history_steps BEGIN SELECT RAISE(ABORT, 'disk says no'); END")({}));
    const { next } = record(db, [
      { type: 'build.started', time: 1, buildId: 'w1', target: '', vertices: 0 },
      { type: 'vertex.started', time: 2, vertex: V1, name: 'RUN x', inputs: [] },
      { type: 'build.completed', time: 3, durationMs: 2, executed: 1, cached: 0 },
    ]);
    const warning = next.events.find((e) => e.type === 'build.warning');
    assert.match(warning?.type === 'build.warning' ? warning.message : '', /could not record build w1: disk says no/);
    assert.equal(next.events.at(-1)?.type, 'build.completed');
    assert.equal(new HistoryStore(db).get('w1'), undefined, 'one transaction: no build row without its steps');
  });

  it('keeps output that arrives after a step ended; a damaged log row is STORE_CORRUPT naming the build, not a crash', () => {
    using db = Database.open(join(dir, 'late.db'));
    record(db, [
      { type: 'build.started', time: 1, buildId: 'l1', target: '', vertices: 0 },
      { type: 'vertex.started', time: 2, vertex: V1, name: 'RUN x', inputs: [] },
      { type: 'vertex.log', time: 3, vertex: V1, stream: 'stdout', data: 'first\n' },
      { type: 'vertex.completed', time: 4, vertex: V1, durationMs: 2 },
      { type: 'vertex.log', time: 5, vertex: V1, stream: 'stderr', data: 'late\n' },
      { type: 'build.completed', time: 6, durationMs: 5, executed: 1, cached: 0 },
    ]);
    const store = new HistoryStore(db);
    assert.deepEqual(store.logs('l1'), [{ seq: 1, text: 'first\nlate\n' }]);
    db.writeTransaction(() => db.command("UPDATE history_logs SET data = zeroblob(64) WHERE build_id = 'l1'")({}));
    assert.throws(() => store.logs('l1'), (error: unknown) => error instanceof Error && 'code' in error && error.code === 'STORE_CORRUPT' && /step 1 of build l1 .* is damaged/.test(error.message));
  });

  it('the project found while the build runs names the record, also when it comes after the record was written', () => {
    using db = Database.open(join(dir, 'project.db'));
    const early = record(db, [{ type: 'build.started', time: 1, buildId: 'p1', target: '', vertices: 0 }]).recorder;
    early.setProject('https://example.com/early.git');
    early.emit({ type: 'build.completed', time: 2, durationMs: 1, executed: 0, cached: 0 });
    const late = record(db, [
      { type: 'build.started', time: 3, buildId: 'p2', target: '', vertices: 0 },
      { type: 'build.failed', time: 4, durationMs: 1, error: 'bad Dockerfile', code: 'DOCKERFILE_SYNTAX' },
    ]).recorder;
    const store = new HistoryStore(db);
    assert.equal(store.get('p2')?.build.project, '/src/app', 'the context directory until the remote is known');
    late.setProject('https://example.com/late.git');
    assert.deepEqual(store.list().map((b) => [b.id, b.project]), [['p2', 'https://example.com/late.git'], ['p1', 'https://example.com/early.git']]);
  });

  it('resolves ^N and id prefixes; removes by id and by age', () => {
    using db = Database.open(join(dir, 'refs.db'));
    for (const [id, time] of [['aa11', 100], ['aa22', 200], ['bb33', 300]] as const) {
      record(db, [
        { type: 'build.started', time, buildId: id, target: '', vertices: 0 },
        { type: 'build.failed', time: time + 1, durationMs: 1, error: 'x' },
      ]);
    }
    const store = new HistoryStore(db);
    assert.equal(store.resolve('^1'), 'bb33');
    assert.equal(store.resolve('^3'), 'aa11');
    assert.throws(() => store.resolve('^4'), /no build \^4/);
    assert.equal(store.resolve('aa2'), 'aa22');
    assert.throws(() => store.resolve('aa'), /ambiguous/);
    assert.throws(() => store.resolve('zz'), /no build zz/);
    assert.throws(() => store.resolve("a' OR 1=1"), /not a build id/);
    assert.deepEqual(store.list({ limit: 2 }).map((b) => b.id), ['bb33', 'aa22']);
    assert.deepEqual(store.list({ status: 'success' }), []);
    assert.equal(store.remove(['aa22', 'nope']), 1);
    assert.equal(store.removeBefore(250), 1);
    assert.deepEqual(store.list().map((b) => b.id), ['bb33']);
  });

  it('the project is the git remote without credentials, else the context directory', async () => {
    assert.equal(remoteUrl('[core]\n\tbare = false\n[remote "upstream"]\n\turl = https://u@example.com/up.git\n[remote "origin"]\n\turl = https://example.com/o.git\n'), 'https://example.com/o.git');
    assert.equal(remoteUrl('[remote "fork"]\n  url = git@example.com:me/x.git\n'), 'git@example.com:me/x.git');
    assert.equal(remoteUrl('[core]\n'), undefined);
    assert.equal(withoutCredentials('https://user:pa55@example.com/a/b.git'), 'https://example.com/a/b.git');
    assert.equal(withoutCredentials('https://ghp_token@github.com/a/b'), 'https://github.com/a/b');
    assert.equal(withoutCredentials('git@github.com:a/b.git'), 'git@github.com:a/b.git');
    const repo = join(dir, 'repo');
    await mkdir(join(repo, '.git'), { recursive: true });
    await mkdir(join(repo, 'sub'), { recursive: true });
    await writeFile(join(repo, '.git', 'config'), '[remote "origin"]\n\turl = https://bot:s3cret@example.com/team/app.git\n');
    const req = await buildRequest({ contextDir: join(repo, 'sub'), dockerfile: 'Dockerfile', platform: 'linux/amd64', buildArgs: new Map(), secrets: new Map(), ssh: new Map(), tags: [], outputs: [], noCache: false, push: false });
    assert.equal(req.project, 'https://example.com/team/app.git');
    const plain = join(dir, 'plain');
    await mkdir(plain);
    assert.equal((await buildRequest({ contextDir: plain, dockerfile: 'Dockerfile', platform: 'linux/amd64', buildArgs: new Map(), secrets: new Map(), ssh: new Map(), tags: [], outputs: [], noCache: false, push: false })).project, plain);
  });

  it('`stagecraft history IMAGE` is routed to `image history` with a note; subcommands are not', () => {
    const notes: string[] = [];
    const note = (text: string): void => void notes.push(text);
    assert.deepEqual(routeImageHistory(['history', 'app:1'], note), ['image', 'history', 'app:1']);
    assert.deepEqual(routeImageHistory(['--root', '/r', 'history', '-H', 'false', '--no-trunc', 'app:1'], note), ['--root', '/r', 'image', 'history', '-H', 'false', '--no-trunc', 'app:1']);
    assert.equal(notes.length, 2);
    assert.match(notes[0] ?? '', /deprecated; use `stagecraft image history app:1`/);
    for (const argv of [['history', 'ls'], ['history', '--root', '/r', 'show', '^1'], ['history'], ['image', 'history', 'x'], ['build', 'history']]) {
      assert.deepEqual(routeImageHistory(argv, note), argv);
    }
    assert.equal(notes.length, 2);
  });
});

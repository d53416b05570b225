/**
 * The store of kept failed steps (debug/store.ts) on a temporary directory, the record made from a
 * failed exec (no secret value, no proxy variable), and the tty renderer's whole output of failed steps.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { DEBUG_LOG_LIMIT, DebugStore, debugRecordSchema, type DebugRecord } from '../../src/debug/index.js';
import { debugRecord } from '../../src/engine/index.js';
import { FailedStepLogs } from '../../src/cli/progress/index.js';
import type { ExecOp } from '../../src/plan/index.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function newStore(): Promise<{ store: DebugStore; removed: string[]; warnings: string[]; root: string }> {
  const base = await mkdtemp(join(tmpdir(), 'stagecraft-debug-store-'));
  dirs.push(base);
  const removed: string[] = [];
  const warnings: string[] = [];
  const root = join(base, 'debug');
  const store = new DebugStore({ root, removeSnapshot: (id) => { removed.push(id); return Promise.resolve(); }, warn: (m) => warnings.push(m) });
  return { store, removed, warnings, root };
}

function record(buildId: string, time: number, snapshot = `${buildId}0000`): DebugRecord {
  return {
    version: 1,
    buildId,
    time,
    dockerfile: { file: '/ctx/Dockerfile', line: 3 },
    step: '[2/2] RUN make',
    snapshot,
    process: { args: ['/bin/sh', '-c', 'make'], env: ['PATH=/bin'], cwd: '/', user: '', hostname: 'buildkitsandbox', network: 'default', security: 'sandbox' },
    settings: {},
    mounts: [],
    inlineFiles: [],
    exitCode: 2,
  };
}

const id = (n: number): string => n.toString(16).padStart(16, '0');

describe('DebugStore', () => {
  it('publishes a staged log with its record in one rename; lists newest first; get validates', async () => {
    const { store, root } = await newStore();
    const a = await store.stage();
    a.write(Buffer.from('line 1\n'));
    a.write(Buffer.from('line 2\n'));
    assert.equal(await a.publish(record(id(1), 1000)), true);
    const b = await store.stage();
    assert.equal(await b.publish(record(id(2), 2000)), true);
    assert.deepEqual((await store.list()).map((r) => r.buildId), [id(2), id(1)]);
    assert.equal(await readFile(join(root, id(1), 'log'), 'utf8'), 'line 1\nline 2\n');
    assert.deepEqual(await store.get(id(1)), record(id(1), 1000));
    // Only the two states: no staging directory is left behind.
    assert.deepEqual((await readdir(root)).sort(), [id(1), id(2)]);
  });

  it('keeps the first failed step of a build: a second publish for the same build is refused and cleaned up', async () => {
    const { store, root } = await newStore();
    assert.equal(await (await store.stage()).publish(record(id(7), 1)), true);
    const second = await store.stage();
    second.write(Buffer.from('other'));
    assert.equal(await second.publish(record(id(7), 2, 'ffffffffffffffff')), false);
    assert.equal((await store.get(id(7)))?.time, 1);
    assert.deepEqual(await readdir(root), [id(7)]);
  });

  it('discard removes the staged log', async () => {
    const { store, root } = await newStore();
    const staged = await store.stage();
    staged.write(Buffer.from('x'));
    await staged.discard();
    assert.deepEqual(await readdir(root), []);
  });

  it('trim keeps the newest N, skips busy states, and removes each snapshot with its record', async () => {
    const { store, removed } = await newStore();
    for (let n = 1; n <= 4; n++) await (await store.stage()).publish(record(id(n), n * 100));
    const gone = await store.trim(2, (buildId) => buildId === id(1));
    assert.deepEqual(gone, [id(2)]);
    assert.deepEqual(removed, [`${id(2)}0000`]);
    assert.deepEqual((await store.list()).map((r) => r.buildId), [id(4), id(3), id(1)]);
    assert.deepEqual(await store.trim(0), [id(4), id(3), id(1)]);
    assert.deepEqual(await store.list(), []);
  });

  it('a damaged record is skipped with a warning naming the file; remove() still removes it', async () => {
    const { store, warnings, root } = await newStore();
    await mkdir(join(root, id(9)), { recursive: true });
    await writeFile(join(root, id(9), 'record.json'), '{"version": 1, "buildId": "nope"');
    assert.deepEqual(await store.list(), []);
    assert.match(warnings.join('\n'), new RegExp(`${id(9)}/record.json is damaged`));
    assert.deepEqual(await store.ids(), [id(9)]);
    assert.equal(await store.remove(id(9)), true);
    assert.deepEqual(await readdir(root), []);
  });

  it('cleanup removes staging and half-removed states of dead processes only (with the snapshot)', async () => {
    const { store, removed, root } = await newStore();
    const live = await store.stage();
    // no process has pid 999999999: its owner is gone.
    await mkdir(join(root, '.staging-999999999-1-abcdef'));
    await mkdir(join(root, '.removing-999999999-1-abcdef'));
    await writeFile(join(root, '.removing-999999999-1-abcdef', 'record.json'), JSON.stringify(record(id(5), 5)));
    await store.cleanup();
    assert.deepEqual(removed, [`${id(5)}0000`]);
    const left = await readdir(root);
    assert.equal(left.length, 1);
    assert.match(left[0] ?? '', /^\.staging-\d+-\d+-/);
    await live.discard();
  });

  it('the log is capped at DEBUG_LOG_LIMIT and says how much was not kept', async () => {
    const { store, root } = await newStore();
    const staged = await store.stage();
    const chunk = Buffer.alloc(8 * 1024 * 1024, 0x61);
    for (let written = 0; written < DEBUG_LOG_LIMIT; written += chunk.length) staged.write(chunk);
    staged.write(Buffer.from('0123456789'));
    await staged.publish(record(id(3), 3));
    const log = await readFile(join(root, id(3), 'log'));
    const note = '\n[stagecraft: 10 more bytes of output were not kept: the log limit is 268435456 bytes]\n';
    assert.equal(log.length, DEBUG_LOG_LIMIT + note.length);
    assert.equal(log.subarray(DEBUG_LOG_LIMIT).toString(), note);
  });

  it('invalid build ids never become paths', async () => {
    const { store } = await newStore();
    assert.throws(() => store.dir('../../etc'), /invalid build id/);
  });
});

describe('debugRecord', () => {
  const op: ExecOp = {
    type: 'exec',
    args: ['/bin/sh', '-c', 'make'],
    env: ['PATH=/bin', 'A=1'],
    cwd: '/src',
    user: 'app',
    network: 'default',
    security: 'sandbox',
    proxyEnv: ['HTTP_PROXY=http://user:proxy-password@proxy:3128'],
    mounts: [
      { type: 'secret', id: 'npmrc', target: '/root/.npmrc', required: true, uid: 0, gid: 0, mode: 0o400 },
      { type: 'secret', id: 'token', env: 'TOKEN', required: false, uid: 0, gid: 0, mode: 0o400 },
      { type: 'cache', id: 'go-build', target: '/root/.cache', sharing: 'locked', source: '', readonly: false, uid: 0, gid: 0, mode: 0o755 },
      { type: 'bind', target: '/ctx', input: 1, source: '/', readonly: true },
      { type: 'bind', target: '/from-stage', input: 2, source: '/out', readonly: true },
      { type: 'ssh', id: 'default', target: '/run/ssh', required: false, uid: 0, gid: 0, mode: 0o600 },
      { type: 'tmpfs', target: '/scratch', size: 1024 },
    ],
    inlineFiles: [{ path: '/dev/pipes/script', data: '#!/bin/sh\necho hi\n', mode: 0o755 }],
    shmSize: 1 << 20,
  };

  it('records how the step ran, mounts by kind and id, and no proxy variable', () => {
    const made = debugRecord(
      { step: { name: '[b 2/3] RUN make', stage: 'b', location: { file: 'Dockerfile', range: { start: { line: 7, column: 1 }, end: { line: 7, column: 9 } } } }, op, network: 'none', hostname: 'h', exitCode: 2, bindSnapshots: new Map([[4, 'abcdef0123456789']]) },
      id(1), 'fedcba9876543210', 42,
    );
    assert.deepEqual(debugRecordSchema.parse(made), made);
    assert.deepEqual(made.dockerfile, { file: 'Dockerfile', line: 7 });
    assert.deepEqual(made.process, { args: ['/bin/sh', '-c', 'make'], env: ['PATH=/bin', 'A=1'], cwd: '/src', user: 'app', hostname: 'h', network: 'none', security: 'sandbox' });
    assert.deepEqual(made.mounts.map((m) => `${m.type}:${'id' in m ? m.id : ''}:${'from' in m ? m.from : ''}`), ['secret:npmrc:', 'secret:token:', 'cache:go-build:', 'bind::context', 'bind::stage', 'ssh:default:', 'tmpfs::']);
    assert.equal(made.mounts[4]?.type === 'bind' ? made.mounts[4].snapshot : undefined, 'abcdef0123456789');
    assert.doesNotMatch(JSON.stringify(made), /proxy-password|HTTP_PROXY/);
    assert.deepEqual(made.settings, { shmSize: 1 << 20 });
  });
});

describe('tty progress: the whole output of failed steps', () => {
  it('prints every line of a failed step, none of a step that succeeded', () => {
    const logs = new FailedStepLogs();
    logs.record({ type: 'vertex.started', vertex: 'ok', time: 0, name: '[1/2] RUN true', inputs: [] });
    logs.record({ type: 'vertex.started', vertex: 'bad', time: 0, name: '[2/2] RUN make', inputs: [] });
    logs.record({ type: 'vertex.log', vertex: 'ok', time: 1, stream: 'stdout', data: 'fine\n' });
    for (let i = 1; i <= 100; i++) logs.record({ type: 'vertex.log', vertex: 'bad', time: 1, stream: 'stderr', data: `error line ${i} ${'y'.repeat(200)}\n` });
    logs.record({ type: 'vertex.completed', vertex: 'ok', time: 2, durationMs: 2 });
    logs.record({ type: 'vertex.failed', vertex: 'bad', time: 2, durationMs: 2, error: 'exit code: 2' });
    const text = logs.text();
    assert.ok(text.startsWith('------ output of [2/2] RUN make ------\n'));
    for (let i = 1; i <= 100; i++) assert.ok(text.includes(`error line ${i} ${'y'.repeat(200)}\n`), `line ${i}`);
    assert.doesNotMatch(text, /fine/);
  });

  it('past its limit keeps the end and says how much came before', () => {
    const logs = new FailedStepLogs(10);
    logs.record({ type: 'vertex.started', vertex: 'v', time: 0, name: 'RUN x', inputs: [] });
    logs.record({ type: 'vertex.log', vertex: 'v', time: 1, stream: 'stdout', data: 'abcdefgh' });
    logs.record({ type: 'vertex.log', vertex: 'v', time: 1, stream: 'stdout', data: 'ijklmn\n' });
    logs.record({ type: 'vertex.failed', vertex: 'v', time: 2, durationMs: 2, error: 'e' });
    assert.equal(logs.text(), '------ output of RUN x ------\n[5 earlier characters not shown: stagecraft debug log prints the whole log of the newest kept failure, or use --progress=plain]\nfghijklmn\n------\n');
  });
});

/**
 * `RUN --mount=type=cache` sharing across processes: two `stagecraft build` processes on one state
 * root, each with a RUN step holding the same cache mount (same target, hence the same id). Each
 * step writes "<name> start" and "<name> end" lines into a log in the cache.
 * - sharing=locked: the second step waits for the first: the log is start/end/start/end, although both
 *   steps were started (vertex.started) before the first one ended.
 * - sharing=shared: both steps are in the mount at once: each waits until it sees the other's start line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RawJsonLine } from '../../src/events/index.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH } from '../helpers/cli.js';

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly events: ReturnType<typeof RawJsonLine.parse>[];
}

/** `stagecraft build --progress=rawjson` as a separate process, without blocking this one. */
function build(root: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, '--root', root, 'build', '--progress=rawjson', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.once('error', reject);
    child.once('close', (status) => resolve({
      status,
      stdout,
      stderr,
      events: stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => RawJsonLine.parse(JSON.parse(l))),
    }));
  });
}

/** The RUN step's start and end times (host clock, ms) from a build's events. */
function runStep(run: Run): { started: number; ended: number } {
  const started = run.events.find((e) => e.type === 'vertex.started' && e.name.includes('RUN'));
  assert.ok(started?.type === 'vertex.started', run.stderr);
  const ended = run.events.find((e) => e.type === 'vertex.completed' && e.vertex === started.vertex);
  assert.ok(ended?.type === 'vertex.completed', run.stderr);
  return { started: started.time, ended: ended.time };
}

describe('cache mounts across two build processes on one state root', { timeout: 300_000 }, () => {
  let env: BuildEnv;

  before(async () => {
    env = await startBuildEnv();
  });
  after(async () => {
    await env.close();
  });

  async function context(name: string, run: string): Promise<string> {
    const dir = join(env.work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN --mount=type=cache,target=/c,${run}\n`);
    return dir;
  }

  /** Two builds at once; the log the cache mount holds afterwards is read by a third build. */
  async function twoAtOnce(root: string, a: string, b: string): Promise<{ first: Run; second: Run; log: string[] }> {
    const [first, second] = await Promise.all([build(root, [a]), build(root, [b])]);
    assert.equal(first.status, 0, first.stderr);
    assert.equal(second.status, 0, second.stderr);
    const out = join(env.work, `${root.split('/').pop() ?? 'x'}-out`);
    const reader = await context(`${root.split('/').pop() ?? 'x'}-reader`, 'sharing=shared cp /c/log /log');
    const read = await build(root, ['--no-cache', '-o', `type=local,dest=${out}`, reader]);
    assert.equal(read.status, 0, read.stderr);
    return { first, second, log: (await readFile(join(out, 'log'), 'utf8')).trim().split('\n') };
  }

  it('sharing=locked: the second process waits until the first has left the mount', async () => {
    const root = await env.newRoot();
    const step = (name: string): string => `sharing=locked sh -c 'echo ${name} start >> /c/log; sleep 5; echo ${name} end >> /c/log'`;
    const { first, second, log } = await twoAtOnce(root, await context('locked-a', step('A')), await context('locked-b', step('B')));
    assert.equal(log.length, 4, log.join('\n'));
    const [x, y] = [log[0]?.split(' ')[0], log[2]?.split(' ')[0]];
    assert.deepEqual(log, [`${x} start`, `${x} end`, `${y} start`, `${y} end`], 'the two steps were in the locked mount at once');
    assert.notEqual(x, y);
    // Both steps had started before either ended: without the lock they would have overlapped.
    const [ra, rb] = [runStep(first), runStep(second)];
    assert.ok(Math.max(ra.started, rb.started) < Math.min(ra.ended, rb.ended), `the steps did not run at the same time: ${JSON.stringify([ra, rb])}`);
  });

  it('sharing=shared: both processes use the mount at once', async () => {
    const root = await env.newRoot();
    // Each waits (up to 60 s) to see the other's start line in the shared directory.
    const step = (name: string, other: string): string =>
      `sharing=shared sh -c 'echo ${name} start >> /c/log; i=0; while ! grep -q "${other} start" /c/log && [ $i -lt 60 ]; do sleep 1; i=$((i+1)); done; echo ${name} end >> /c/log'`;
    const { log } = await twoAtOnce(root, await context('shared-a', step('A', 'B')), await context('shared-b', step('B', 'A')));
    assert.equal(log.length, 4, log.join('\n'));
    assert.deepEqual(log.slice(0, 2).map((l) => l.split(' ')[1]).sort(), ['start', 'start'], `the steps did not overlap: ${log.join(', ')}`);
  });
});

/**
 * Many builds on one state root (built binary, runc, overlayfs, a real registry).
 *
 * 1. 4 processes × 10 builds at once on one root, sharing the busybox base and cache mounts with
 *    sharing=shared|locked|private, while `prune` (and `prune --all`, which must either run or refuse
 *    with STORE_BUSY) runs meanwhile: every build succeeds with the image ID a lone build in a fresh
 *    root gives.
 * 2. 20 runs (seeded): a build is SIGKILLed at a random point; then the next build succeeds with the
 *    lone build's image ID, `prune` and `du` succeed, and du agrees with what is on disk. At the end
 *    `prune --all` leaves no mount under the root and no leftover of the killed builds.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountPoints } from '../../src/snapshot/index.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';

const EPOCH = '1700000000';
/** Distinct Dockerfile variants (build arg N): each is built alone once for its reference image ID. */
const VARIANTS = 5;

interface Run {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI asynchronously (builds run side by side); `killAfterMs` SIGKILLs it. */
function runAsync(args: readonly string[], killAfterMs?: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, SOURCE_DATE_EPOCH: EPOCH } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes in use under `path` (st_blocks, hardlinks once), as `du` counts them. */
function diskBytes(path: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (!st.isDirectory()) {
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id) && st.nlink > 1) return;
      seen.add(id);
      total += st.blocks * 512;
      return;
    }
    for (const name of readdirSync(p)) walk(join(p, name));
  };
  walk(path);
  return total;
}

const Usage = (text: string): { snapshots: number; cacheMounts: number; total: number } => JSON.parse(text) as { snapshots: number; cacheMounts: number; total: number };

describe('one state root, many processes', { timeout: 600_000 }, () => {
  let env: BuildEnv;
  let dir: string;
  let root: string;
  /** Image ID of variant n, built alone in a fresh root. */
  const expected = new Map<number, string>();
  const buildArgs = (n: number, extra: readonly string[] = []): string[] => ['--root', root, 'build', '-q', '--build-arg', `N=${n}`, ...extra, dir];

  before(async () => {
    env = await startBuildEnv();
    root = await env.newRoot();
    dir = join(env.work, 'stress');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'app.txt'), 'app\n');
    // Each variant N runs its own steps (so concurrent builds do real work, with the same chain IDs
    // committed by several processes at once); cache mounts of every sharing mode are written at once.
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox}`,
      'ARG N',
      'COPY app.txt /app/app.txt',
      'RUN --mount=type=cache,target=/cache,id=shared,sharing=shared echo "$N" >> /cache/log && echo "shared $N" > /app/shared',
      'RUN --mount=type=cache,target=/cache,id=locked,sharing=locked sh -c \'echo "$N" > /cache/owner; sleep 0.2; test "$(cat /cache/owner)" = "$N"\' && echo "locked $N" > /app/locked',
      'RUN --mount=type=cache,target=/cache,id=private,sharing=private sh -c \'test ! -e /cache/busy; touch /cache/busy; sleep 0.2; rm /cache/busy\' && echo "private $N" > /app/private',
      'RUN echo "$N" > /app/n',
      '',
    ].join('\n'));
    // The reference: each variant built alone in its own fresh root.
    const lone = await env.newRoot();
    for (let n = 0; n < VARIANTS; n++) {
      const run = await runAsync(['--root', lone, 'build', '-q', '--build-arg', `N=${n}`, dir]);
      assert.equal(run.status, 0, run.stderr);
      expected.set(n, run.stdout.trim());
    }
    assert.equal(new Set(expected.values()).size, VARIANTS);
  });
  after(async () => {
    for (const m of (await mountPoints()).filter((p) => p.startsWith(env.work)).reverse()) spawnSync('umount', ['-l', m]);
    await env.close();
  });

  it('4 processes × 10 builds with prune meanwhile: all succeed with the lone build\'s image ID', async () => {
    let building = true;
    const prunes: Run[] = [];
    const pruning = (async () => {
      for (let i = 0; building; i++) prunes.push(await runAsync(['--root', root, 'prune', ...(i % 3 === 2 ? ['--all'] : [])]));
    })();
    const worker = async (w: number): Promise<Run[]> => {
      const runs: Run[] = [];
      for (let k = 0; k < 10; k++) runs.push(await runAsync(buildArgs((k + w) % VARIANTS)));
      return runs;
    };
    let results: Run[][];
    try {
      results = await Promise.all([0, 1, 2, 3].map(worker));
    } finally {
      building = false;
      await pruning;
    }
    for (const [w, runs] of results.entries()) {
      for (const [k, run] of runs.entries()) {
        assert.equal(run.status, 0, `worker ${w} build ${k}: ${run.stderr}`);
        assert.equal(run.stdout.trim(), expected.get((k + w) % VARIANTS), `worker ${w} build ${k}`);
      }
    }
    assert.ok(prunes.length > 0);
    for (const run of prunes) {
      // prune --all runs only while no build holds the root; otherwise it refuses, clearly.
      assert.ok(run.status === 0 || (run.status === 8 && /STORE_BUSY|is using the state root/u.test(run.stderr)), run.stderr);
    }
  });

  it('SIGKILLed builds (20 runs, seeded) leave nothing that breaks the next build, prune or du', async () => {
    const random = prng(13);
    for (let i = 0; i < 20; i++) {
      const killAt = Math.floor(random() * 2500);
      // A variant not built yet, so the killed build is somewhere in real work.
      const killed = await runAsync(buildArgs(1000 + i, ['--no-cache']), killAt);
      assert.ok(killed.signal === 'SIGKILL' || killed.status === 0, `run ${i}: ${killed.stderr}`);
      const n = i % VARIANTS;
      // Every fourth one runs all its steps again; the others may use what the root has cached.
      const next = await runAsync(buildArgs(n, i % 4 === 0 ? ['--no-cache'] : []));
      assert.equal(next.status, 0, `run ${i} (killed after ${killAt} ms): ${next.stderr}`);
      assert.equal(next.stdout.trim(), expected.get(n), `run ${i}`);
      const prune = runCli(['--root', root, 'prune']);
      assert.equal(prune.status, 0, `run ${i}: ${prune.stderr}`);
      const du = runCli(['--root', root, 'du', '--json']);
      assert.equal(du.status, 0, `run ${i}: ${du.stderr}`);
      const usage = Usage(du.stdout);
      assert.equal(usage.snapshots, diskBytes(join(root, 'snapshots')), `run ${i}: du of snapshots`);
      assert.equal(usage.cacheMounts, diskBytes(join(root, 'cache-mounts')), `run ${i}: du of cache mounts`);
    }
    const all = runCli(['--root', root, 'prune', '--all']);
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual((await mountPoints()).filter((p) => p.startsWith(`${root}/`)), [], 'mounts left under the root');
    for (const sub of ['active', 'mounts', 'tmp']) assert.deepEqual(readdirSync(join(root, 'snapshots', sub)), [], `snapshots/${sub}`);
    assert.deepEqual(readdirSync(join(root, 'run')).filter((name) => !name.startsWith('.')), [], 'run dirs of killed builds');
    const du = Usage(runCli(['--root', root, 'du', '--json']).stdout);
    assert.equal(du.snapshots, diskBytes(join(root, 'snapshots')));
    const final = await runAsync(buildArgs(3));
    assert.equal(final.status, 0, final.stderr);
    assert.equal(final.stdout.trim(), expected.get(3));
  });
});

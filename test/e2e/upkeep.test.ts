import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';

interface Usage { images: number; cache: number; snapshots: number; cacheRecords: number; total: number }

describe('stagecraft du and prune', () => {
  let env: BuildEnv;
  let dir: string;
  let root: string;
  const du = (): Usage => JSON.parse(runCli(['--root', root, 'du', '--json']).stdout) as Usage;
  const ran = (run: ReturnType<BuildEnv['build']>): number => {
    const done = run.events.find((e) => e.type === 'build.completed');
    return done?.type === 'build.completed' ? done.executed : -1;
  };
  before(async () => {
    env = await startBuildEnv();
    root = await env.newRoot();
    dir = join(env.work, 'upkeep');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN head -c 100000 /dev/urandom > /noise\nRUN echo done > /done\n`);
  });
  after(async () => {
    await env.close();
  });

  it('reports images, build cache and snapshots after a build', () => {
    const run = env.build(['-t', 'upkeep:1', dir], { root });
    assert.equal(run.status, 0, run.stderr);
    const usage = du();
    assert.ok(usage.images > 100_000, JSON.stringify(usage));
    assert.ok(usage.snapshots > 100_000, JSON.stringify(usage));
    assert.ok(usage.cacheRecords >= 2);
  });

  it('keeps recently used cache by default, drops it with --filter until=0s, then steps run again', () => {
    const kept = runCli(['--root', root, 'prune']);
    assert.equal(kept.status, 0, kept.stderr);
    assert.match(kept.stdout, /removed 0 cache records/);
    assert.equal(ran(env.build([dir], { root })), 0, 'still cached');
    const dropped = runCli(['--root', root, 'prune', '--filter', 'until=0s']);
    assert.equal(dropped.status, 0, dropped.stderr);
    assert.equal(du().cacheRecords, 0);
    assert.ok(ran(env.build([dir], { root })) >= 2, 'the steps ran again');
  });

  it('--all removes step snapshots and cache but keeps tagged images and their unpacked layers; the next build works', () => {
    const before = du();
    const run = runCli(['--root', root, 'prune', '--all', '--force']);
    assert.equal(run.status, 0, run.stderr);
    const usage = du();
    assert.ok(usage.snapshots < before.snapshots - 100_000, 'step results are gone');
    assert.ok(usage.snapshots > 0, 'the tagged image\'s unpacked base layer stays');
    assert.equal(usage.cache, 0);
    assert.ok(usage.images > 100_000, 'the tagged image stays');
    assert.match(runCli(['--root', root, 'images']).stdout, /upkeep/);
    assert.equal(env.build([dir], { root }).status, 0);
  });

  it('pull unpacks the layers; with no tagged image left, prune --all leaves no snapshot', async () => {
    const fresh = await env.newRoot();
    const pulled = runCli(['--root', fresh, 'pull', '-q', env.busybox]);
    assert.equal(pulled.status, 0, pulled.stderr);
    const usage = (): Usage => JSON.parse(runCli(['--root', fresh, 'du', '--json']).stdout) as Usage;
    assert.ok(usage().snapshots > 100_000, 'unpacked on pull');
    assert.equal(runCli(['--root', fresh, 'prune', '--all', '--force']).status, 0);
    assert.ok(usage().snapshots > 100_000, 'a tagged image keeps its layers');
    assert.equal(runCli(['--root', fresh, 'rmi', env.busybox]).status, 0);
    assert.equal(runCli(['--root', fresh, 'prune', '--all', '--force']).status, 0);
    assert.equal(usage().snapshots, 0);
  });

  it('applies the keepStorage policy of the config file after every build', async () => {
    const limited = await env.newRoot();
    mkdirSync(limited, { recursive: true });
    writeFileSync(join(limited, 'config.json'), JSON.stringify({ keepStorage: 1 }));
    const run = env.build([dir], { root: limited });
    assert.equal(run.status, 0, run.stderr);
    const usage = JSON.parse(runCli(['--root', limited, 'du', '--json']).stdout) as Usage;
    assert.equal(usage.cacheRecords, 0, 'the build cache was pruned to fit');
  });

  it('rejects bad sizes and filters', () => {
    assert.equal(runCli(['--root', root, 'prune', '--keep-storage', 'lots']).status, 2);
    assert.equal(runCli(['--root', root, 'prune', '--filter', 'label=x']).status, 2);
  });
});

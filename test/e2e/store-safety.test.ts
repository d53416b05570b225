/**
 * The state root against hostile or unlucky builds (built binary, runc, overlayfs, a real registry):
 * - deep images: a Dockerfile of 130 steps, and a stage that copies from 60 stages, build and run;
 * - the root is private (0700): an unprivileged user cannot read a file or run a setuid binary of an
 *   unpacked layer, also when the root existed with a looser mode;
 * - a COPY that fills the root's disk (a small tmpfs) ends in NO_SPACE naming the space left and
 *   `prune`, and the store stays consistent: du and prune work, the next build succeeds, nothing stays
 *   mounted or active.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountPoints } from '../../src/snapshot/index.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';

describe('state root safety', () => {
  let env: BuildEnv;
  before(async () => {
    env = await startBuildEnv();
    // Let other users traverse the test's temp dir, as /var/lib is: only the root's own mode protects it.
    chmodSync(env.work, 0o755);
  });
  after(async () => {
    for (const m of (await mountPoints()).filter((p) => p.startsWith(env.work)).reverse()) spawnSync('umount', ['-l', m]);
    await env.close();
  });

  it('builds and runs a Dockerfile of 130 steps', { timeout: 240_000 }, () => {
    const dir = join(env.work, 'deep');
    mkdirSync(dir);
    const lines = [`FROM ${env.busybox}`];
    for (let i = 0; i < 130; i++) {
      if (i % 2 === 0) {
        writeFileSync(join(dir, `f${i}`), `${i}\n`);
        lines.push(`COPY f${i} /steps/${i}`);
      } else {
        lines.push(`RUN echo ${i} > /steps/${i}`);
      }
    }
    lines.push('RUN ls /steps | wc -l > /count && cat /steps/0 /steps/129 > /ends');
    writeFileSync(join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);
    const out = join(env.work, 'deep-out');
    const run = env.build(['-t', 'deep:130', '-o', `type=local,dest=${out}`, dir]);
    assert.equal(run.status, 0, run.stderr.slice(-3000));
    assert.equal(execFileSync('cat', [join(out, 'count')], { encoding: 'utf8' }).trim(), '130');
    assert.equal(execFileSync('cat', [join(out, 'ends')], { encoding: 'utf8' }), '0\n129\n');
  });

  it('builds a stage that copies from 60 stages', { timeout: 240_000 }, () => {
    const dir = join(env.work, 'wide');
    mkdirSync(dir);
    const lines: string[] = [];
    for (let i = 0; i < 60; i++) lines.push(`FROM ${env.busybox} AS s${i}`, `RUN echo ${i} > /part`);
    lines.push(`FROM ${env.busybox}`);
    for (let i = 0; i < 60; i++) lines.push(`COPY --from=s${i} /part /parts/${i}`);
    lines.push('RUN cat /parts/* | wc -l > /count');
    writeFileSync(join(dir, 'Dockerfile'), `${lines.join('\n')}\n`);
    const { out, ...run } = env.buildLocal(dir, 'wide-out');
    assert.equal(run.status, 0, run.stderr.slice(-3000));
    assert.equal(execFileSync('cat', [join(out, 'count')], { encoding: 'utf8' }).trim(), '60');
  });

  it('keeps the state root private to its owner, also one that existed with mode 0755', { timeout: 120_000 }, () => {
    const dir = join(env.work, 'private');
    mkdirSync(dir);
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN echo s3cret > /private.txt && cp /bin/busybox /suid && chmod 4755 /suid\n`);
    for (const [label, prepare] of [['fresh', false], ['existing 0755', true]] as const) {
      const root = join(env.work, `private-root-${prepare ? 'old' : 'new'}`);
      if (prepare) {
        mkdirSync(root, { mode: 0o755 });
        chmodSync(root, 0o755);
      }
      const run = env.build([dir], { root });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(statSync(root).mode & 0o777, 0o700, label);
      const found = execFileSync('find', [root, '-name', 'private.txt', '-path', '*/fs/*'], { encoding: 'utf8' }).trim().split('\n')[0] ?? '';
      assert.ok(found !== '', 'the unpacked layer holds the file');
      const suid = join(found, '..', 'suid');
      const read = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', found], { encoding: 'utf8' });
      assert.notEqual(read.status, 0, `${label}: nobody read ${found}: ${read.stdout}`);
      assert.match(read.stderr, /Permission denied/u);
      const exec = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', suid, 'id', '-u'], { encoding: 'utf8' });
      assert.notEqual(exec.status, 0, `${label}: nobody ran the setuid binary: ${exec.stdout}`);
    }
  });

  it('ends a COPY that fills the disk in NO_SPACE and leaves the store consistent', { timeout: 180_000 }, async () => {
    const root = join(env.work, 'small-root');
    mkdirSync(root);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', root]);
    try {
      const dir = join(env.work, 'big');
      mkdirSync(dir);
      writeFileSync(join(dir, 'big'), execFileSync('head', ['-c', String(40 << 20), '/dev/urandom'], { maxBuffer: 64 << 20 }));
      writeFileSync(join(dir, 'small'), 'small\n');
      writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nCOPY big /big\n`);
      writeFileSync(join(dir, 'Dockerfile.small'), `FROM ${env.busybox}\nCOPY small /small\n`);
      const full = env.build([dir], { root });
      assert.equal(full.status, 8, full.stderr);
      assert.match(full.stderr, /NO_SPACE|no space left/u);
      assert.match(full.stderr, /free of/u);
      assert.match(full.stderr, /stagecraft prune/u);
      assert.doesNotMatch(full.stderr, /internal error/u);
      assert.deepEqual(readdirSync(join(root, 'snapshots', 'active')), [], 'no mutable snapshot is left');
      assert.deepEqual((await mountPoints()).filter((p) => p.startsWith(`${root}/`)), [], 'nothing stays mounted');
      const du = runCli(['--root', root, 'du', '--json']);
      assert.equal(du.status, 0, du.stderr);
      const prune = runCli(['--root', root, 'prune', '--all']);
      assert.equal(prune.status, 0, prune.stderr);
      const small = env.build(['-f', join(dir, 'Dockerfile.small'), dir], { root });
      assert.equal(small.status, 0, small.stderr);
    } finally {
      for (const m of (await mountPoints()).filter((p) => p.startsWith(`${root}/`)).reverse()) spawnSync('umount', ['-l', m]);
      execFileSync('umount', [root]);
    }
  });
});

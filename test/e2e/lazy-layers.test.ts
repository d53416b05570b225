/**
 * Lazy layers and disk (issue 18), with the real CLI: a multi-stage build (the w4 shape: a RUN
 * writing 4 MiB in a build stage, copied into the final stage) stores no blob for the build stage's
 * layer, and a layer the image has is stored once, clamped to the epoch (its plain tar only hashed); a cached rebuild
 * needs no step blob (they can be made again from the snapshots); `--target` of the build stage
 * makes its layer then; a step result whose snapshot is gone is a miss (the step runs again, same
 * image); `du` shows what `prune --all` would free (RECLAIMABLE) and that is what it frees.
 */
import assert from 'node:assert/strict';
import { readdirSync, rmSync, statSync, writeFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { startBuildEnv, type BuildEnv, type BuildRun } from '../helpers/build-env.js';
import { W4 } from '../helpers/workload-shapes.js';

const FOUR_MIB = 4096 * 1024;

let env: BuildEnv;
let context: string;

function completed(run: BuildRun): { digest: string; executed: number; cached: number } {
  assert.equal(run.status, 0, run.stderr.slice(-3000));
  const done = run.events.find((e) => e.type === 'build.completed');
  assert.ok(done?.type === 'build.completed' && done.image !== undefined, run.stderr.slice(-3000));
  return { digest: done.image.digest, executed: done.executed, cached: done.cached };
}

const blobsDir = (root: string): string => join(root, 'content', 'blobs', 'sha256');
/** Blobs holding the 4 MiB file (plain layer tars are a little larger). */
const bigBlobs = (root: string): string[] => readdirSync(blobsDir(root)).filter((name) => statSync(join(blobsDir(root), name)).size >= FOUR_MIB).sort();
const build = (root: string, args: readonly string[] = []): BuildRun => env.build(['--provenance=false', '--build-arg', `BASE=${env.busybox}`, ...args, context], { root, env: { ...process.env, SOURCE_DATE_EPOCH: '1700000000' } });
/** The blobs an image's manifest names. */
function manifestLayers(root: string, digest: string): string[] {
  const manifest = JSON.parse(readFileSync(join(blobsDir(root), digest.slice('sha256:'.length)), 'utf8')) as { layers: { digest: string }[] };
  return manifest.layers.map((l) => l.digest.slice('sha256:'.length));
}

describe('lazy layers', () => {
  before(async () => {
    env = await startBuildEnv();
    context = join(env.work, 'w4');
    for (const [name, text] of Object.entries(W4)) {
      mkdirSync(join(context, name, '..'), { recursive: true });
      writeFileSync(join(context, name), text);
    }
  });
  after(async () => {
    await env.close();
  });

  it('a build-stage layer is never tarred; a cached rebuild needs no step blob; --target makes it then', { timeout: 120_000 }, async () => {
    const root = await env.newRoot();
    const first = completed(build(root));
    // The final COPY's layer (its files already have the epoch's time: plain and clamped are one
    // blob); nothing for the gen stage's RUN.
    const afterFirst = bigBlobs(root);
    assert.deepEqual(afterFirst, manifestLayers(root, first.digest).filter((b) => afterFirst.includes(b)));
    assert.equal(afterFirst.length, 1, `blobs of 4 MiB or more: ${afterFirst.join(' ')}`);
    // Drop it: a cached rebuild finds every step by its cache key, and the image's layer is made again (the same bytes).
    for (const blob of afterFirst) rmSync(join(blobsDir(root), blob));
    const warm = completed(build(root));
    assert.equal(warm.digest, first.digest);
    assert.equal(warm.executed, 0, 'every step cached');
    assert.deepEqual(bigBlobs(root), afterFirst, 'only the image layer was made again');
    // The build stage as an image: its RUN layer is made now, from the step's snapshot.
    const gen = completed(build(root, ['--target', 'gen']));
    assert.equal(gen.executed, 0);
    const genLayers = manifestLayers(root, gen.digest);
    assert.ok(genLayers.every((b) => readdirSync(blobsDir(root)).includes(b)));
    // The final image's layer, and the RUN's layer as in the gen image (clamped): its plain tar was
    // only hashed (its diffID), never stored, as no image holds it plain.
    const now = bigBlobs(root);
    assert.equal(now.length, 2, now.join(' '));
    assert.ok(genLayers.some((b) => now.includes(b)));
  });

  it('a step result whose snapshot is gone is a miss: the step runs again, the same image', { timeout: 120_000 }, async () => {
    const root = await env.newRoot();
    const first = completed(build(root));
    // Step results are the 32-hex snapshots (unpacked base layers are keyed by their 64-hex chain ID).
    const committed = join(root, 'snapshots', 'snapshots');
    const steps = readdirSync(committed).filter((id) => /^[a-f0-9]{32}$/u.test(id));
    assert.ok(steps.length >= 3, steps.join(' '));
    for (const id of steps) rmSync(join(committed, id), { recursive: true, force: true });
    const again = completed(build(root));
    assert.ok(again.executed >= 3, `steps ran again: ${again.executed}`);
    assert.equal(again.digest, first.digest);
  });

  it('du: RECLAIMABLE is what prune --all frees; images and their unpacked layers stay', { timeout: 120_000 }, async () => {
    const root = await env.newRoot();
    completed(build(root, ['-t', 'lazy:1']));
    const du = runCli(['--root', root, 'du']);
    assert.equal(du.status, 0, du.stderr);
    assert.match(du.stdout, /^KIND\s+SIZE\s+RECLAIMABLE$/mu);
    assert.match(du.stdout, /^images\s+\S+\s+0B$/mu);
    interface Usage { total: number; images: number; reclaimable: { total: number; images: number; snapshots: number } }
    const before = JSON.parse(runCli(['--root', root, 'du', '--json']).stdout) as Usage;
    assert.ok(before.reclaimable.total > FOUR_MIB && before.reclaimable.total < before.total, JSON.stringify(before));
    assert.equal(before.reclaimable.images, 0);
    const prune = runCli(['--root', root, 'prune', '--all']);
    assert.equal(prune.status, 0, prune.stderr);
    const afterPrune = JSON.parse(runCli(['--root', root, 'du', '--json']).stdout) as Usage;
    assert.equal(afterPrune.images, before.images, 'the image stays');
    assert.equal(afterPrune.reclaimable.total, 0, JSON.stringify(afterPrune));
    // Freed: what du said, within a few directory blocks (metadata written by prune itself).
    assert.ok(Math.abs(before.total - afterPrune.total - before.reclaimable.total) <= 64 * 1024, `${before.total} - ${afterPrune.total} vs ${before.reclaimable.total}`);
  });
});

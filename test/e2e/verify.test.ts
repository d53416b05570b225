/**
 * `stagecraft verify` end to end (built CLI, real runc/overlayfs, a real docker-registry): a
 * deterministic Dockerfile reproduces (exit 0); one with `RUN date +%s%N > /f` differs (exit 1), and
 * verify names /f as changed content and attributes it to that RUN's line; diffoscope, run on the
 * two kept layers, reports the same files. An image built with provenance mode=max is rebuilt from
 * its provenance and reproduces; one whose provenance lacks what a rebuild needs is refused, naming it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';

interface VerifyJson {
  reproduced: boolean;
  kept?: string;
  epoch?: number;
  a: { manifest: string; config: string };
  b: { manifest: string; config: string };
  diff?: {
    config: { path: string; timeOnly: boolean }[];
    layers: {
      index: number;
      a?: { digest: string };
      b?: { digest: string };
      step?: { file?: string; line?: number; instruction: string };
      entries: { path: string; change: string; fields: { field: string }[] }[];
      timeOnly: { path: string }[];
    }[];
  };
}

// No SOURCE_DATE_EPOCH: builds are reproducible by default (the epoch is the base image's created time).
const { SOURCE_DATE_EPOCH: _unset, ...withoutEpoch } = process.env;
const DIFFOSCOPE = '/usr/bin/diffoscope';

describe('stagecraft verify (e2e)', { timeout: 300_000 }, () => {
  let env: BuildEnv;
  let det: string;
  let nondet: string;

  before(async () => {
    env = await startBuildEnv();
    det = join(env.work, 'det');
    nondet = join(env.work, 'nondet');
    await mkdir(det);
    await mkdir(nondet);
    await writeFile(join(det, 'hello.txt'), 'hello\n');
    await writeFile(join(det, 'Dockerfile'), `FROM ${env.busybox}\nCOPY hello.txt /hello.txt\nRUN mkdir -p /data && echo stable > /data/y && chmod 0600 /data/y\nENV A=1\n`);
    await writeFile(join(nondet, 'hello.txt'), 'hello\n');
    // Line 3 is the non-deterministic step; busybox date has no %N, so /proc/uptime adds sub-second change.
    await writeFile(join(nondet, 'Dockerfile'), `FROM ${env.busybox}\nCOPY hello.txt /hello.txt\nRUN date +%s%N > /f && cat /proc/uptime >> /f\nRUN echo stable > /g\n`);
  });

  after(async () => {
    await env.close();
  });

  const verify = (args: readonly string[], root: string): ReturnType<typeof runCli> =>
    runCli(['--root', root, 'verify', ...args], { env: withoutEpoch });

  it('a deterministic Dockerfile reproduces: exit 0, same manifest and config', async () => {
    const run = verify(['--format', 'json', det], await env.newRoot());
    assert.equal(run.status, 0, run.stderr + run.stdout);
    const result = JSON.parse(run.stdout) as VerifyJson;
    assert.equal(result.reproduced, true);
    assert.equal(result.a.manifest, result.b.manifest);
    assert.equal(result.a.config, result.b.config);
    assert.equal(typeof result.epoch, 'number');
    assert.equal(result.diff, undefined);
  });

  it('RUN date > /f differs: exit 1, /f changed content, attributed to line 3; diffoscope finds the same files', async () => {
    const keep = join(env.work, 'keep');
    const run = verify(['--format', 'json', '--keep-dir', keep, nondet], await env.newRoot());
    assert.equal(run.status, 1, run.stderr + run.stdout);
    const result = JSON.parse(run.stdout) as VerifyJson;
    assert.equal(result.reproduced, false);
    assert.notEqual(result.a.manifest, result.b.manifest);
    const layers = result.diff?.layers ?? [];
    assert.equal(layers.length, 1, JSON.stringify(layers));
    const layer = layers[0];
    assert.ok(layer !== undefined);
    assert.deepEqual(layer.entries.map((e) => [e.path, e.change, e.fields.map((f) => f.field).filter((f) => f === 'digest')]), [['f', 'changed', ['digest']]]);
    assert.equal(layer.step?.line, 3);
    assert.match(layer.step?.file ?? '', /Dockerfile$/u);
    assert.match(layer.step?.instruction ?? '', /RUN date \+%s%N > \/f/u);
    // The config differs only where the layer does (its diffID): no time-only noise with an epoch.
    assert.deepEqual(result.diff?.config.map((c) => c.path), ['rootfs.diff_ids[2]']);

    // The text report says the same.
    const text = verify([nondet], await env.newRoot());
    assert.equal(text.status, 1);
    assert.match(text.stdout, /DIFFERS/u);
    assert.match(text.stdout, /layer 2 \(.*Dockerfile:3 .*RUN date \+%s%N > \/f[^\n]*\):\n {2}changed {2}\/f {2}digest sha256:/u);

    // diffoscope on the two kept layers reports exactly the files verify does (time-only aside).
    assert.ok(existsSync(DIFFOSCOPE), `${DIFFOSCOPE} is not installed (apt-get install diffoscope-minimal)`);
    assert.ok(result.kept !== undefined && layer.a !== undefined && layer.b !== undefined);
    const blob = (side: string, digest: string): string => join(result.kept ?? '', side, 'content/blobs/sha256', digest.replace(/^sha256:/u, ''));
    copyFileSync(blob('a', layer.a.digest), join(env.work, 'a.tar'));
    copyFileSync(blob('b', layer.b.digest), join(env.work, 'b.tar'));
    const diffoscope = spawnSync(DIFFOSCOPE, ['--text', '-', join(env.work, 'a.tar'), join(env.work, 'b.tar')], { encoding: 'utf8' });
    assert.equal(diffoscope.status, 1, `diffoscope: ${diffoscope.stderr}`);
    const reported = new Set<string>();
    for (const line of diffoscope.stdout.split('\n')) {
      const section = /^[│ ]*├── (.+)$/u.exec(line)?.[1];
      if (section !== undefined && section !== 'file list') reported.add(section.replace(/^\.\//u, ''));
    }
    const ours = new Set(layer.entries.map((e) => e.path));
    assert.deepEqual([...reported].sort(), [...ours].sort(), `diffoscope:\n${diffoscope.stdout}`);
    // No other file is named by diffoscope's member list either, except those verify lists as time-only.
    const listed = diffoscope.stdout.split('\n').filter((l) => /^│ [-+][-dlrwxsStT]{10}/u.test(l)).map((l) => l.trim().split(/\s+/u).pop()?.replace(/^\.\//u, '') ?? '');
    const timeOnly = new Set(layer.timeOnly.map((t) => t.path));
    for (const path of listed) assert.ok(ours.has(path) || timeOnly.has(path), `diffoscope lists ${path}, verify does not`);
  });

  it('an image is rebuilt from its provenance (mode=max) and reproduces; without a context it names what is missing', async () => {
    const root = await env.newRoot();
    const built = env.build(['--provenance=mode=max', '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', '-t', 'verify/det:1', det], { root, env: withoutEpoch });
    assert.equal(built.status, 0, built.stderr.slice(-2000));
    const run = verify(['--format', 'json', 'verify/det:1', det], root);
    assert.equal(run.status, 0, run.stderr + run.stdout);
    const result = JSON.parse(run.stdout) as VerifyJson;
    assert.equal(result.reproduced, true);
    assert.equal(result.epoch, 1700000000, 'the epoch recorded in the provenance');

    const noContext = verify(['verify/det:1'], root);
    assert.equal(noContext.status, 2, noContext.stderr);
    assert.match(noContext.stderr, /cannot rebuild verify\/det:1: its provenance lacks the build context/u);

    const minimal = env.build(['--provenance=mode=min', '--build-arg', 'UNUSED=1', '-t', 'verify/min:1', det], { root, env: withoutEpoch });
    assert.equal(minimal.status, 0, minimal.stderr.slice(-2000));
    const min = verify(['verify/min:1', det], root);
    assert.equal(min.status, 2, min.stderr);
    assert.match(min.stderr, /the build arguments and labels \(provenance mode=min leaves them out\)/u);
  });
});

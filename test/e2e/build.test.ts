import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';

describe('stagecraft build (runc, overlayfs, real registry)', () => {
  let env: BuildEnv;
  let context: string;
  before(async () => {
    env = await startBuildEnv();
    context = env.exampleContext('hello');
  });
  after(async () => {
    await env.close();
  });

  it('builds the multi-stage example, names it, and exports the final stage\'s files', () => {
    const out = join(env.work, 'out');
    const run = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '-t', 'hello:test', '-o', `type=local,dest=${out}`, context]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'app/GREETING.txt'), 'utf8'), 'HELLO FROM STAGECRAFT\n');
    assert.equal(readFileSync(join(out, 'app/tested'), 'utf8'), 'passed\n', 'the test stage ran and gated the result');
    assert.equal(readlinkSync(join(out, 'app/hello')), '/app/app.sh');
    assert.equal(lstatSync(join(out, 'app/app.sh')).mode & 0o777, 0o755, 'COPY --chmod');
    assert.ok(lstatSync(join(out, 'bin/busybox')).isFile(), 'the base image is there');
    const done = run.events.find((e) => e.type === 'build.completed');
    assert.ok(done !== undefined && done.type === 'build.completed' && done.executed > 5);
  });

  it('rebuilds from the cache without running anything', () => {
    const run = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '-t', 'hello:test', context]);
    assert.equal(run.status, 0, run.stderr);
    const done = run.events.find((e) => e.type === 'build.completed');
    assert.ok(done?.type === 'build.completed');
    assert.equal(done.executed, 0);
    assert.ok(!run.events.some((e) => e.type === 'vertex.started' && /RUN/.test(e.name)));
  });

  it('keeps every step cached when a file no COPY selects changes', () => {
    writeFileSync(join(context, 'unrelated.md'), `changed ${Date.now()}\n`);
    const run = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, context]);
    assert.equal(run.status, 0, run.stderr);
    assert.ok(!run.events.some((e) => e.type === 'vertex.started' && /RUN|COPY/.test(e.name)), 'nothing ran');
    assert.ok(!run.events.some((e) => e.type === 'cache.miss'), 'and nothing is reported as a miss');
  });

  it('re-runs the COPY of a changed file and what follows it, only', () => {
    writeFileSync(join(context, 'greeting.txt'), 'hello from stagecraft, again\n');
    const out = join(env.work, 'out2');
    const run = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '-o', `type=local,dest=${out}`, context]);
    assert.equal(run.status, 0, run.stderr);
    const ran = run.events.filter((e) => e.type === 'vertex.started').map((e) => (e.type === 'vertex.started' ? e.name : ''));
    assert.ok(ran.some((n) => /\[greeting 3\/4\] COPY greeting\.txt/.test(n)), ran.join('\n'));
    assert.ok(ran.some((n) => /\[greeting 4\/4\] RUN tr/.test(n)));
    assert.ok(!ran.some((n) => /\[app /.test(n)), 'the app stage does not read greeting.txt');
    assert.ok(!ran.some((n) => /WORKDIR/.test(n)));
    assert.equal(readFileSync(join(out, 'app/GREETING.txt'), 'utf8'), 'HELLO FROM STAGECRAFT, AGAIN\n');
    const reasons = run.events.flatMap((e) => (e.type === 'cache.miss' ? e.reasons : []));
    assert.ok(reasons.includes('file greeting.txt changed'), `the explanation names the file: ${reasons.join('; ')}`);
  });

  it('re-runs exactly the steps that see a changed build arg', () => {
    const dir = join(env.work, 'args');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN echo before > /before\nARG LEVEL=1\nRUN echo $LEVEL > /level\nRUN echo after > /after\n`);
    assert.equal(env.build([dir]).status, 0);
    const run = env.build(['--build-arg', 'LEVEL=2', dir]);
    assert.equal(run.status, 0, run.stderr);
    const ran = run.events.filter((e) => e.type === 'vertex.started').map((e) => (e.type === 'vertex.started' ? e.name : ''));
    assert.deepEqual(ran.filter((n) => /RUN/.test(n)), ['[3/4] RUN echo 2 > /level', '[4/4] RUN echo after > /after']);
    const reasons = run.events.flatMap((e) => (e.type === 'cache.miss' ? e.reasons : []));
    assert.ok(reasons.includes('build arg or ENV LEVEL changed from "1" to "2"'), `the explanation names the arg: ${reasons.join('; ')}`);
  });

  it('--no-cache runs every step; --no-cache-filter only the named stage\'s', () => {
    const all = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--no-cache', context]);
    assert.equal(all.status, 0, all.stderr);
    const ranAll = all.events.filter((e) => e.type === 'vertex.started' && /RUN/.test(e.name)).length;
    assert.equal(ranAll, 3, 'every RUN of the needed stages');
    const filtered = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--no-cache-filter', 'greeting', context]);
    assert.equal(filtered.status, 0, filtered.stderr);
    const names = filtered.events.filter((e) => e.type === 'vertex.started').map((e) => (e.type === 'vertex.started' ? e.name : ''));
    assert.ok(names.some((n) => n.startsWith('[greeting ')), names.join('\n'));
    assert.ok(!names.some((n) => n.startsWith('[app ')), 'other stages stay cached');
  });

  it('--pull resolves the base image from the registry even when the store has it', () => {
    const dir = join(env.work, 'pull');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN true\n`);
    const root = join(env.work, 'pull-root');
    assert.equal(env.build(['-t', env.busybox, dir], { root }).status, 0, 'the store now has an image named like the base');
    const local = env.build(['--metadata-file', join(env.work, 'p1.json'), dir], { root });
    assert.equal(local.status, 0, local.stderr);
    const pulled = env.build(['--pull', '--metadata-file', join(env.work, 'p2.json'), dir], { root });
    assert.equal(pulled.status, 0, pulled.stderr);
    const base = (run: ReturnType<BuildEnv['build']>): string => run.events.flatMap((e) => (e.type === 'vertex.started' || e.type === 'vertex.cached') && /load metadata/.test(e.name) ? [e.name] : []).join();
    assert.notEqual(base(local), base(pulled), 'without --pull the local image of that name is used; with it, the registry\'s');
  });

  it('leaves .dockerignore\'d files out of the context, and out of the cache key', () => {
    const dir = join(env.work, 'ignore');
    mkdirSync(join(dir, 'logs'), { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nCOPY . /ctx/\n`);
    writeFileSync(join(dir, '.dockerignore'), 'logs\n*.secret\n!keep.secret\n');
    writeFileSync(join(dir, 'app.txt'), 'app\n');
    writeFileSync(join(dir, 'logs/debug.log'), 'noise\n');
    writeFileSync(join(dir, 'token.secret'), 'hidden\n');
    writeFileSync(join(dir, 'keep.secret'), 'kept\n');
    const { out, ...run } = env.buildLocal(dir, 'ignore-out');
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(readdirSync(join(out, 'ctx')).sort(), ['.dockerignore', 'Dockerfile', 'app.txt', 'keep.secret']);
    writeFileSync(join(dir, 'logs/debug.log'), 'more noise\n');
    const again = env.build([dir]);
    assert.ok(!again.events.some((e) => e.type === 'vertex.started' && /COPY/.test(e.name)), 'an ignored file does not invalidate the COPY');
  });

  it('runs independent stages in parallel', () => {
    const dir = join(env.work, 'parallel');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox} AS a`, 'RUN sleep 2 && echo a > /a',
      `FROM ${env.busybox} AS b`, 'RUN sleep 2 && echo b > /b',
      `FROM ${env.busybox} AS c`, 'RUN sleep 2 && echo c > /c',
      `FROM ${env.busybox}`, 'COPY --from=a /a /a', 'COPY --from=b /b /b', 'COPY --from=c /c /c', '',
    ].join('\n'));
    const run = env.build([dir]);
    assert.equal(run.status, 0, run.stderr);
    const starts = run.events.filter((e) => e.type === 'vertex.started' && /RUN sleep/.test(e.name)).map((e) => e.time);
    const ends = run.events.filter((e) => e.type === 'vertex.completed').map((e) => e.time);
    assert.equal(starts.length, 3);
    const firstEnd = Math.min(...ends.filter((t) => t > Math.min(...starts) + 1000));
    // Overlap, not wall time, proves parallelism (a loaded machine stretches every step alike).
    assert.ok(starts.every((t) => t < firstEnd), 'all three sleeps started before the first one finished');
  });

  it('fails a RUN with the Dockerfile excerpt, the exit code and the last output', () => {
    const dir = join(env.work, 'failing');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN echo ok\nRUN echo oops-output >&2 && exit 3\nRUN echo never\n`);
    const run = env.build(['--progress=plain', dir]);
    assert.equal(run.status, 1);
    assert.match(run.stderr, /error: \[3\/4\] RUN echo oops-output >&2 && exit 3: process "\/bin\/sh -c echo oops-output >&2 && exit 3" did not complete successfully: exit code: 3\nlast output:\n  oops-output\n/);
    assert.match(run.stderr, /> 3 \| RUN echo oops-output >&2 && exit 3/);
    assert.doesNotMatch(run.stderr, /\[4\/4\] RUN echo never/, "the step after the failure did not run");
  });

  it('pushes with --push, and skopeo inspects and copies what it pushed', () => {
    const name = `${env.registry.host}/hello:pushed`;
    const meta = join(env.work, 'push-meta.json');
    const run = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '-t', name, '--push', '--metadata-file', meta, context]);
    assert.equal(run.status, 0, run.stderr);
    const digest = String((JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>)['containerimage.digest']);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' })) as { Digest: string; Layers: string[] };
    assert.equal(inspected.Digest, digest);
    const layout = join(env.work, 'pushed-layout');
    execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${name}`, `oci:${layout}:copied`]);
    const unpacked = join(env.work, 'pushed-rootfs');
    mkdirSync(unpacked, { recursive: true });
    for (const layer of inspected.Layers) execFileSync('tar', ['-xzf', join(layout, 'blobs/sha256', layer.slice(7)), '-C', unpacked]);
    assert.match(readFileSync(join(unpacked, 'app/GREETING.txt'), 'utf8'), /^HELLO FROM STAGECRAFT/);
  });

  it('writes --iidfile and --metadata-file like buildx', () => {
    const iid = join(env.work, 'iid');
    const meta = join(env.work, 'meta.json');
    const run = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '-t', 'meta:1', '--iidfile', iid, '--metadata-file', meta, context]);
    assert.equal(run.status, 0, run.stderr);
    const metadata = JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>;
    assert.match(readFileSync(iid, 'utf8'), /^sha256:[a-f0-9]{64}$/);
    assert.equal(metadata['containerimage.config.digest'], readFileSync(iid, 'utf8'));
    assert.match(String(metadata['containerimage.digest']), /^sha256:/);
    assert.equal(metadata['image.name'], 'docker.io/library/meta:1');
  });

  it('gives the same image digest from empty state roots with SOURCE_DATE_EPOCH', async () => {
    const digests: string[] = [];
    for (let i = 0; i < 2; i++) {
      const meta = join(env.work, `repro-${i}.json`);
      // Without provenance: it records the build's invocation id and times (as BuildKit's), so with it
      // `containerimage.digest` (then the index) differs per build while the image manifest does not.
      const run = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--build-arg', 'SOURCE_DATE_EPOCH=1700000000', '--provenance=false', '--metadata-file', meta, context], { root: await env.newRoot() });
      assert.equal(run.status, 0, run.stderr);
      digests.push(String((JSON.parse(readFileSync(meta, 'utf8')) as Record<string, unknown>)['containerimage.digest']));
    }
    assert.equal(digests[0], digests[1]);
  });

  it('keeps a secret out of every layer, config, history, cache record, log and the state root', async () => {
    const dir = join(env.work, 'secret');
    mkdirSync(dir, { recursive: true });
    const value = `s3cr3t-${Date.now()}-value`;
    writeFileSync(join(env.work, 'token.txt'), value);
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox}`,
      'RUN --mount=type=secret,id=tok,required sha256sum /run/secrets/tok | cut -c1-64 > /file-hash',
      'RUN --mount=type=secret,id=tok,env=TOK printf %s "$TOK" | sha256sum | cut -c1-64 > /env-hash',
      '',
    ].join('\n'));
    const root = await env.newRoot();
    const archive = join(env.work, 'secret.tar');
    const out = join(env.work, 'secret-out');
    const run = env.build(['--secret', `id=tok,src=${join(env.work, 'token.txt')}`, '-o', `type=oci,dest=${archive}`, '-o', `type=local,dest=${out}`, dir], { root });
    assert.equal(run.status, 0, run.stderr);
    const expected = createHash('sha256').update(value).digest('hex');
    assert.equal(readFileSync(join(out, 'file-hash'), 'utf8').trim(), expected, 'the secret was mounted as a file');
    assert.equal(readFileSync(join(out, 'env-hash'), 'utf8').trim(), expected, 'the secret was given as an env var');
    assert.ok(!run.stdout.includes(value) && !run.stderr.includes(value), 'not in the progress log');
    // Every byte of the state root and of the exported archive, with compressed blobs expanded.
    const unpacked = join(env.work, 'secret-archive');
    mkdirSync(unpacked, { recursive: true });
    execFileSync('tar', ['-xf', archive, '-C', unpacked]);
    const script = `find "$1" "$2" -type f | while read -r f; do (gzip -dc "$f" 2>/dev/null || cat "$f"); done | grep -a -c -F "$3" || true`;
    const count = execFileSync('sh', ['-c', script, 'sh', root, unpacked, value], { encoding: 'utf8', maxBuffer: 64 << 20 }).trim();
    assert.equal(count, '0', 'the secret value appears nowhere');
    assert.ok(execFileSync('sh', ['-c', `find "$1" -type f | wc -l`, 'sh', root], { encoding: 'utf8' }).trim() !== '0');
  });
});

/**
 * `--build-context NAME=VALUE` as buildx: a directory, `docker-image://` and `oci-layout://` contexts
 * replacing a stage, a FROM image, `COPY --from` and `RUN --mount=from`, with their own .dockerignore,
 * content-keyed caching, and clear errors for what is not supported.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RawJsonLine } from '../../src/events/index.js';
import { startBuildEnv, type BuildEnv, type BuildRun } from '../helpers/build-env.js';
import { describeTree, plantCanaries } from '../helpers/canary.js';
import { runCli } from '../helpers/cli.js';

function write(dir: string, files: Record<string, string>): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

const started = (run: BuildRun, pattern: RegExp): string[] => run.events.flatMap((e) => (e.type === 'vertex.started' && pattern.test(e.name) ? [e.name] : []));
const cached = (run: BuildRun, pattern: RegExp): string[] => run.events.flatMap((e) => (e.type === 'vertex.cached' && pattern.test(e.name) ? [e.name] : []));

describe('build --build-context', () => {
  let env: BuildEnv;
  let busyboxDigest: string;
  before(async () => {
    env = await startBuildEnv();
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${env.busybox}`], { encoding: 'utf8' })) as { Digest: string };
    busyboxDigest = inspected.Digest;
  });
  after(async () => {
    await env.close();
  });

  it('a directory context feeds COPY --from and RUN --mount=from, with its own .dockerignore', () => {
    const main = write(join(env.work, 'dir-main'), {
      Dockerfile: `FROM ${env.busybox}\nCOPY --from=assets . /assets/\nRUN --mount=from=assets,target=/mnt cat /mnt/sub/b.txt > /mounted\nCOPY main.txt /\n`,
      'main.txt': 'main\n',
      // The main context's .dockerignore does not apply to the named one.
      '.dockerignore': 'a.txt\n',
    });
    const assets = write(join(env.work, 'dir-assets'), { 'a.txt': 'a\n', 'sub/b.txt': 'b\n', 'skip.log': 'log\n', '.dockerignore': '*.log\n' });
    const out = join(env.work, 'dir-out');
    const run = env.build(['--build-context', `assets=${assets}`, '-o', `type=local,dest=${out}`, main]);
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(readdirSync(join(out, 'assets')).sort(), ['.dockerignore', 'a.txt', 'sub']);
    assert.equal(readFileSync(join(out, 'assets/sub/b.txt'), 'utf8'), 'b\n');
    assert.equal(readFileSync(join(out, 'mounted'), 'utf8'), 'b\n');
    assert.equal(readFileSync(join(out, 'main.txt'), 'utf8'), 'main\n');
    assert.ok(started(run, /^\[context assets\] load from client/).length > 0, 'the named context is its own source');
  });

  it('a relative directory replaces a stage of that name (its instructions never run), also as FROM', () => {
    const main = write(join(env.work, 'stage-main'), {
      Dockerfile: [
        `FROM ${env.busybox} AS gen`,
        'RUN echo "the replaced stage ran" && exit 3',
        'FROM gen AS tree',
        `FROM ${env.busybox}`,
        'COPY --from=gen /made.txt /from-gen.txt',
        'COPY --from=tree / /tree/',
        '',
      ].join('\n'),
    });
    write(join(env.work, 'stage-gen'), { 'made.txt': 'made outside\n' });
    const out = join(env.work, 'stage-out');
    // Relative to the current directory, as buildx resolves it.
    const cli = runCli(['--root', join(env.work, 'root'), 'build', '--progress=rawjson', '--build-context', 'gen=../stage-gen', '-o', `type=local,dest=${out}`, '.'], { cwd: main });
    const run: BuildRun = { ...cli, events: cli.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => RawJsonLine.parse(JSON.parse(l))) };
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'from-gen.txt'), 'utf8'), 'made outside\n');
    assert.deepEqual(readdirSync(join(out, 'tree')), ['made.txt'], 'FROM gen is the directory alone');
    assert.deepEqual(started(run, /RUN/), [], 'the stage named like the context is not built');
  });

  it('docker-image:// replaces a FROM image by name (familiar or full) and is checked against its digest', () => {
    const main = write(join(env.work, 'image-main'), {
      Dockerfile: 'FROM alpine:3.19\nRUN echo from-context > /which\nFROM docker.io/library/alpine:3.19\nCOPY --from=0 /which /which\n',
    });
    const out = join(env.work, 'image-out');
    const run = env.build(['--build-context', `alpine:3.19=docker-image://${env.busybox}@${busyboxDigest}`, '-o', `type=local,dest=${out}`, main]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'which'), 'utf8'), 'from-context\n');
    assert.ok(existsSync(join(out, 'bin/busybox')), 'the base is the context\'s image');
    const wrong = `sha256:${'0'.repeat(64)}`;
    const bad = env.build(['--build-context', `alpine:3.19=docker-image://${env.busybox}@${wrong}`, main], { root: join(env.work, 'image-root-2') });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, new RegExp(wrong));
  });

  it('oci-layout:// uses an image from an OCI layout written by stagecraft -o type=oci,tar=false, by tag or digest', () => {
    const first = write(join(env.work, 'oci-first'), { Dockerfile: `FROM ${env.busybox}\nARG V\nRUN echo "$V" > /first\n` });
    const layout = join(env.work, 'first-layout');
    for (const v of ['v1', 'v2']) {
      const made = env.build(['--build-arg', `V=${v}`, '-o', `type=oci,tar=false,dest=${layout},name=first:${v}`, first]);
      assert.equal(made.status, 0, made.stderr);
    }
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    assert.deepEqual(index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']), ['docker.io/library/first:v1', 'docker.io/library/first:v2'], 'a second write adds to the layout');
    assert.equal(readFileSync(join(layout, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
    const v1 = index.manifests[0]?.digest ?? '';
    const second = write(join(env.work, 'oci-second'), { Dockerfile: 'FROM base\nRUN cat /first > /second\n' });
    for (const [value, expected] of [[`oci-layout://${layout}:v2`, 'v2\n'], [`oci-layout://${layout}@${v1}`, 'v1\n']] as const) {
      const out = join(env.work, `oci-out-${expected.trim()}`);
      const run = env.build(['--build-context', `base=${value}`, '-o', `type=local,dest=${out}`, second], { root: join(env.work, `oci-root-${expected.trim()}`) });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(readFileSync(join(out, 'second'), 'utf8'), expected);
    }
    const missingTag = env.build(['--build-context', `base=oci-layout://${layout}:nope`, second]);
    assert.notEqual(missingTag.status, 0);
    assert.match(missingTag.stderr, /no image tagged "nope"/);
    // A layout blob that does not match its digest is refused, nothing of it used.
    const tampered = join(env.work, 'tampered-layout');
    cpSync(layout, tampered, { recursive: true });
    // The layout lists the index (image manifest + attestation manifest): tamper with the image's top layer.
    const readBlob = (digest: string): unknown => JSON.parse(readFileSync(join(tampered, 'blobs/sha256', digest.slice('sha256:'.length)), 'utf8'));
    const top1 = readBlob(v1) as { manifests?: { digest: string }[] };
    const manifest = readBlob(top1.manifests?.[0]?.digest ?? v1) as { layers: { digest: string }[] };
    const top = manifest.layers.at(-1)?.digest ?? '';
    const blob = join(tampered, 'blobs/sha256', top.slice('sha256:'.length));
    const bytes = readFileSync(blob);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    writeFileSync(blob, bytes);
    const bad = env.build(['--build-context', `base=oci-layout://${tampered}@${v1}`, second], { root: join(env.work, 'oci-root-tampered') });
    assert.equal(bad.status, 5, bad.stderr);
    assert.match(bad.stderr, new RegExp(`tampered-layout/blobs/sha256/${top.slice(7)} does not match its digest`));
    const untagged = env.build(['--build-context', `base=oci-layout://${layout}`, second]);
    assert.notEqual(untagged.status, 0, 'two images and no tag: which one is not guessed');
    assert.match(untagged.stderr, /holds 2 images and none is tagged "latest"/);
  });

  it('a changed file of a directory context re-runs only the steps that read it', () => {
    const main = write(join(env.work, 'cache-main'), {
      Dockerfile: `FROM ${env.busybox}\nCOPY main.txt /\nRUN cat /main.txt > /one\nCOPY --from=extra data.txt /\nRUN cat /data.txt > /two\n`,
      'main.txt': 'main\n',
    });
    const extra = write(join(env.work, 'cache-extra'), { 'data.txt': 'v1\n', 'unused.txt': 'u1\n' });
    const root = join(env.work, 'cache-root');
    const args = ['--build-context', `extra=${extra}`, main];
    const first = env.build(args, { root });
    assert.equal(first.status, 0, first.stderr);
    assert.equal(started(first, /RUN/).length, 2);

    writeFileSync(join(extra, 'unused.txt'), 'u2\n');
    const unrelated = env.build(args, { root });
    assert.equal(unrelated.status, 0, unrelated.stderr);
    assert.deepEqual(started(unrelated, /RUN|COPY/), [], 'a file no step reads changes nothing');

    writeFileSync(join(extra, 'data.txt'), 'v2\n');
    const changed = env.build(args, { root });
    assert.equal(changed.status, 0, changed.stderr);
    assert.deepEqual(started(changed, /COPY main.txt|RUN cat \/main.txt/), [], 'the steps before stay cached');
    assert.ok(cached(changed, /RUN cat \/main.txt/).length > 0, 'the step before is taken from the cache');
    assert.equal(started(changed, /COPY --from=extra|RUN cat \/data.txt/).length, 2, 'the steps reading the context re-run');
  });

  it('symlinks of a directory context to host paths are read inside the context, never on the host', async () => {
    const host = join(env.work, 'host-canary');
    await plantCanaries(host);
    const before = await describeTree(host);
    const assets = join(env.work, 'hostile-assets');
    mkdirSync(assets, { recursive: true });
    symlinkSync(host, join(assets, 'abs'));
    symlinkSync('../../../../../../../..' + host, join(assets, 'rel'));
    writeFileSync(join(assets, 'own.txt'), 'own\n');
    symlinkSync('own.txt', join(assets, 'inner'));
    const steps = [
      'COPY --from=assets abs/secret /copied-abs',
      'COPY --from=assets rel/secret /copied-rel',
      'COPY --from=assets abs/ /copied-dir/',
      'RUN --mount=from=assets,source=abs,target=/m cat /m/secret > /mounted-abs',
      'RUN --mount=from=assets,source=rel,target=/m,rw cat /m/secret > /mounted-rel; echo changed > /m/secret',
    ];
    for (const [i, step] of steps.entries()) {
      const main = write(join(env.work, `hostile-main-${i}`), { Dockerfile: `FROM ${env.busybox}\n${step}\n` });
      const run = env.build(['--build-context', `assets=${assets}`, main]);
      // As in the main context: a link is resolved inside the context, where the host path does not exist.
      assert.equal(run.status, 4, `${step}: ${run.stderr}`);
      assert.match(run.stderr, /not found/, step);
    }
    const inside = write(join(env.work, 'hostile-inside'), { Dockerfile: `FROM ${env.busybox}\nCOPY --from=assets inner /inner\n` });
    const out = join(env.work, 'hostile-inside-out');
    const run = env.build(['--build-context', `assets=${assets}`, '-o', `type=local,dest=${out}`, inside]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'inner'), 'utf8'), 'own\n', 'a link inside the context is followed');
    assert.deepEqual(await describeTree(host), before, 'the host files are untouched');
  });

  it('refuses unsupported forms, missing directories and bad names before the build starts', () => {
    const main = write(join(env.work, 'err-main'), { Dockerfile: `FROM ${env.busybox}\nCOPY --from=x / /x/\n` });
    const cases: { value: string; status: number; message: RegExp }[] = [
      { value: 'x=s3://bucket/dir', status: 2, message: /unsupported context source s3:\/\// },
      { value: 'x=https://github.com/moby/buildkit.git', status: 2, message: /git and URL contexts are not supported by stagecraft yet/ },
      { value: 'x=git@github.com:moby/buildkit.git', status: 2, message: /git and URL contexts are not supported/ },
      { value: `x=${join(env.work, 'no-such-dir')}`, status: 4, message: /no-such-dir does not exist/ },
      { value: `x=${join(main, 'Dockerfile')}`, status: 2, message: /is not a directory/ },
      { value: 'Bad_Name=.', status: 2, message: /invalid context name "Bad_Name"/ },
      { value: `x@sha256:${'a'.repeat(64)}=.`, status: 2, message: /invalid context name/ },
      { value: 'x', status: 2, message: /expected NAME=VALUE/ },
      { value: 'x=docker-image://library/Upper', status: 2, message: /must be lowercase/ },
    ];
    for (const { value, status, message } of cases) {
      const run = env.build(['--build-context', value, main]);
      assert.equal(run.status, status, `${value}: ${run.stderr}`);
      assert.match(run.stderr, message, value);
      assert.ok(!run.events.some((e) => e.type === 'vertex.started'), `${value}: no step ran`);
    }
  });
});

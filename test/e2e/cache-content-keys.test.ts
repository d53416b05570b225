/**
 * Content-selected cache keys (issue 18): a step that reads part of another stage — COPY --from
 * (a file, a wildcard, a directory) and RUN --mount=type=bind,from= — stays cached, and so does
 * everything after it, when the stage changed but the files the step selects did not; it re-runs,
 * naming the changed path, when they did. The image is then bit-for-bit the one a fresh build makes.
 */
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv, type BuildRun } from '../helpers/build-env.js';

function started(run: BuildRun): string[] {
  return run.events.flatMap((e) => (e.type === 'vertex.started' ? [e.name] : []));
}

function cachedReasons(run: BuildRun): Map<string, string | undefined> {
  return new Map(run.events.flatMap((e) => (e.type === 'vertex.cached' ? [[e.name, e.reason] as const] : [])));
}

function missReasons(run: BuildRun, step: RegExp): string[] {
  const ids = new Set(run.events.flatMap((e) => (e.type === 'vertex.started' && step.test(e.name) ? [e.vertex] : [])));
  return run.events.flatMap((e) => (e.type === 'cache.miss' && ids.has(e.vertex) ? e.reasons : []));
}

function imageDigest(run: BuildRun): string {
  const done = run.events.find((e) => e.type === 'build.completed');
  assert.ok(done?.type === 'build.completed' && done.image !== undefined, run.stderr);
  return done.image.digest;
}

describe('content-selected keys for COPY --from and RUN --mount=from', () => {
  let env: BuildEnv;
  let dir: string;
  let first: BuildRun;
  const build = (extra: readonly string[] = [], root?: string): BuildRun => {
    const run = env.build(['--explain-cache', ...extra, dir], root === undefined ? {} : { root });
    assert.equal(run.status, 0, run.stderr);
    return run;
  };

  before(async () => {
    env = await startBuildEnv();
    dir = join(env.work, 'app');
    mkdirSync(join(dir, 'src/lib'), { recursive: true });
    // The builder's output depends on part of its input only (as a deterministic compiler's does:
    // comments do not reach it), and it also writes a file no later step reads.
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox} AS build`,
      'WORKDIR /src',
      'COPY src/ ./',
      "RUN mkdir -p /out /dist && grep -v '^#' main.txt > /out/out.txt && cp lib/*.txt /dist/ && cat main.txt lib/*.txt | md5sum > /out/inputs",
      '',
      `FROM ${env.busybox}`,
      'COPY --from=build /out/out.txt /app/out.txt',
      'RUN cat /app/out.txt > /app/seen',
      'RUN --mount=type=bind,from=build,source=/dist,target=/d cat /d/a.txt /d/b.txt > /app/mounted',
      'COPY --from=build /dist/*.txt /app/wild/',
      'COPY --from=build /dist /app/dir',
      'RUN echo done > /app/done',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'src/main.txt'), '# a comment\nline one\n');
    writeFileSync(join(dir, 'src/lib/a.txt'), 'a\n');
    writeFileSync(join(dir, 'src/lib/b.txt'), 'b\n');
    first = build();
  });
  after(async () => {
    await env.close();
  });

  it('keeps the COPY --from, the mount and every later step cached when a file outside the selection changes', () => {
    writeFileSync(join(dir, 'src/notes.md'), 'not read by the runtime stage\n');
    const run = build();
    const ran = started(run);
    assert.ok(ran.some((n) => /\[build \d\/\d\] RUN mkdir/.test(n)), `the builder's RUN re-ran: ${ran.join('; ')}`);
    assert.deepEqual(ran.filter((n) => !n.startsWith('[build ') && !n.startsWith('[internal]')), [], 'nothing of the runtime stage ran');
    const cached = cachedReasons(run);
    const copy = [...cached].find(([name]) => /COPY --from=build \/out\/out\.txt/.test(name));
    assert.ok(copy !== undefined, [...cached.keys()].join('; '));
    assert.match(copy[1] ?? '', /^files selected from stage build unchanged \(sha256:[0-9a-f]{12}…\)$/);
    for (const step of [/RUN --mount=type=bind,from=build/, /COPY --from=build \/dist\/\*\.txt/, /COPY --from=build \/dist \/app\/dir/]) {
      const hit = [...cached].find(([name]) => step.test(name));
      assert.ok(hit?.[1]?.startsWith('files selected from stage build unchanged') === true, `${String(step)}: ${String(hit?.[1])}`);
    }
    assert.ok([...cached.keys()].some((n) => /RUN echo done/.test(n)), 'the last RUN is cached');
    assert.match(run.stderr, /cached by content:\n(?: {2}.*\n {4}- cached: .*\n)* {2}\[stage-1 \d\/\d\] COPY --from=build \/out\/out\.txt \/app\/out\.txt\n {4}- cached: files selected from stage build unchanged \(sha256:/);
    assert.equal(imageDigest(run), imageDigest(first), 'the same image');
  });

  it('a later build with the same builder result uses the recorded key (no reason, nothing read again)', () => {
    const run = build();
    assert.deepEqual(started(run).filter((n) => !n.startsWith('[internal]')), []);
    assert.ok([...cachedReasons(run).values()].every((r) => r === undefined), 'an ordinary hit');
  });

  it('keeps the runtime stage cached when only a comment of the compiled source changes', () => {
    writeFileSync(join(dir, 'src/main.txt'), '# another comment, longer\nline one\n');
    const run = build();
    const ran = started(run);
    assert.ok(ran.some((n) => /\[build \d\/\d\] RUN mkdir/.test(n)), 'the builder re-ran');
    assert.deepEqual(ran.filter((n) => !n.startsWith('[build ') && !n.startsWith('[internal]')), []);
    assert.equal(imageDigest(run), imageDigest(first));
  });

  it('matches a fresh build bit for bit', async () => {
    const fresh = build([], await env.newRoot());
    assert.equal(imageDigest(fresh), imageDigest(first), 'what the cache kept is what a fresh build makes');
  });

  it('re-runs the COPY and what follows when the selected file really changes, naming it', () => {
    writeFileSync(join(dir, 'src/main.txt'), '# another comment, longer\nline two\n');
    const run = build();
    const ran = started(run);
    assert.ok(ran.some((n) => /COPY --from=build \/out\/out\.txt/.test(n)), ran.join('; '));
    assert.ok(ran.some((n) => /RUN cat \/app\/out\.txt/.test(n)));
    assert.ok(missReasons(run, /COPY --from=build \/out\/out\.txt/).includes('file /out/out.txt selected from stage build changed'), missReasons(run, /COPY --from=build \/out/).join('; '));
    assert.match(run.stderr, /- file \/out\/out\.txt selected from stage build changed/);
    assert.notEqual(imageDigest(run), imageDigest(first));
  });

  it('re-runs RUN --mount=from, the wildcard and the directory COPY when a file they read changes or appears', () => {
    writeFileSync(join(dir, 'src/lib/a.txt'), 'a, changed\n');
    writeFileSync(join(dir, 'src/lib/c.txt'), 'c\n');
    const run = build();
    const ran = started(run);
    assert.ok(!ran.some((n) => /COPY --from=build \/out\/out\.txt|RUN cat \/app\/out\.txt/.test(n)), `steps before the mount stay cached: ${ran.join('; ')}`);
    // The mount reads /dist whole: a new file there counts too, though the command does not read it.
    assert.deepEqual(missReasons(run, /RUN --mount=type=bind,from=build/), ['file /dist/a.txt selected from stage build changed', 'file /dist/c.txt selected from stage build was added'], 'the mount alone re-ran it');
    const wildcard = missReasons(run, /COPY --from=build \/dist\/\*\.txt/);
    assert.ok(wildcard.includes('file /dist/a.txt selected from stage build changed') && wildcard.includes('file /dist/c.txt selected from stage build was added'), wildcard.join('; '));
    assert.ok(missReasons(run, /COPY --from=build \/dist \/app\/dir/).includes('file /dist/a.txt selected from stage build changed'));
  });

  it('reads selections inside the stage: a symlink to a host path neither reaches the host file nor its content', () => {
    // A host file the hostile stage points at by absolute path; in the stage that path does not exist.
    const hostDir = join(env.work, 'host-only');
    mkdirSync(hostDir, { recursive: true });
    const hostFile = join(hostDir, 'secret.txt');
    writeFileSync(hostFile, 'host-secret-content\n');
    const hostile = join(env.work, 'hostile');
    mkdirSync(hostile, { recursive: true });
    const dockerfile = (copy: string): string => [
      `FROM ${env.busybox} AS evil`,
      `RUN mkdir -p /out/dir && ln -s ${hostFile} /out/link && ln -s ${hostFile} /out/dir/inner && ln -s ../../../../../../..${hostDir} /out/dir/up`,
      `FROM ${env.busybox}`,
      copy,
      '',
    ].join('\n');
    // The named symlink is followed inside the stage, where its target is missing: the step fails.
    writeFileSync(join(hostile, 'Dockerfile'), dockerfile('COPY --from=evil /out/link /got'));
    const named = env.build([hostile]);
    assert.notEqual(named.status, 0, 'the COPY of a link to a host path must fail');
    assert.doesNotMatch(named.stderr, /host-secret-content/);
    assert.match(named.stderr, /not found|no such file|does not exist/i, named.stderr.slice(-2000));
    // Links inside a copied directory stay links: nothing of the host is read or copied.
    writeFileSync(join(hostile, 'Dockerfile'), dockerfile('COPY --from=evil /out/dir /got'));
    const local = env.buildLocal(hostile, 'hostile-out');
    assert.equal(local.status, 0, local.stderr);
    assert.equal(readlinkSync(join(local.out, 'got', 'inner')), hostFile);
    assert.ok(lstatSync(join(local.out, 'got', 'up')).isSymbolicLink());
    assert.ok(!local.stderr.includes('host-secret-content'));
  });
});

/**
 * Issue 13, faults 1–3 and BuildKit behaviours of fault 15, through the built binary with real runc:
 * hostile Dockerfiles and contexts made here, host "canary" files under the test's temp dir that must
 * come out untouched.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lchownSync, lstatSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { assertHostUntouched, treeState, writeContext, type EntryState } from '../helpers/host-tree.js';


describe('a hostile Dockerfile cannot reach the host or the user\'s files through mounts', () => {
  let env: BuildEnv;
  /** The host directory a hostile build aims at. */
  let host: string;
  let hostBefore: Record<string, EntryState>;
  const past = new Date('2020-01-02T03:04:05Z');

  before(async () => {
    env = await startBuildEnv();
    host = join(env.work, 'host-canary');
    mkdirSync(join(host, 'sub'), { recursive: true });
    writeFileSync(join(host, 'secret'), 'HOST-SECRET\n', { mode: 0o600 });
    writeFileSync(join(host, 'sub/file'), 'HOST-SUB\n', { mode: 0o644 });
    utimesSync(join(host, 'secret'), past, past);
    utimesSync(join(host, 'sub/file'), past, past);
    utimesSync(join(host, 'sub'), past, past);
    utimesSync(host, past, past);
    hostBefore = treeState(host);
  });
  after(async () => {
    await env.close();
  });

  const hostUntouched = (): void => assertHostUntouched(host, hostBefore, past);
  const context = (name: string, dockerfile: string, files: Record<string, string> = {}): string => writeContext(env.work, name, dockerfile, files);

  it('a bind mount of a stage symlink (absolute, climbing, or a source with ..) resolves inside the stage, read-only and rw', () => {
    const climb = `../../../../../../../../../..${host}`;
    const dir = context('stage-links', [
      `FROM ${env.busybox} AS evil`,
      // The stage holds its own copy of the host path, so a mount resolved inside the stage finds it.
      `RUN mkdir -p ${host}/sub && echo STAGE > ${host}/secret && ln -s ${host} /abs && ln -s ${climb} /rel && ln -s ${host}/secret /abs-file && mkdir -p /deep/a && ln -s ../../../../../../..${host} /deep/a/up`,
      `FROM ${env.busybox}`,
      'RUN --mount=type=bind,from=evil,source=/abs,target=/m cat /m/secret > /abs.txt',
      'RUN --mount=type=bind,from=evil,source=rel,target=/m cat /m/secret > /rel.txt',
      'RUN --mount=type=bind,from=evil,source=/abs-file,target=/f cat /f > /abs-file.txt',
      'RUN --mount=type=bind,from=evil,source=/deep/a/up/secret,target=/f cat /f > /deep.txt',
      `RUN --mount=type=bind,from=evil,source=../../../../../../..${host},target=/m cat /m/secret > /dots.txt`,
      "RUN --mount=type=bind,from=evil,source=/abs,target=/m,rw sh -c 'echo pwn > /m/written; echo more >> /m/secret; chmod 777 /m/secret /m/sub; chown 123:456 /m/secret; rm -rf /m/sub; true'",
      "RUN --mount=type=bind,from=evil,source=/rel,target=/m,rw sh -c 'echo pwn > /m/written2; chmod 777 /m/secret; touch -d 2001-01-01 /m/secret; true'",
      "RUN --mount=type=bind,from=evil,source=/abs-file,target=/f,rw sh -c 'echo more >> /f; chmod 777 /f; true'",
    ].join('\n'));
    const { out, ...run } = env.buildLocal(dir, 'stage-links-out');
    assert.equal(run.status, 0, run.stderr);
    for (const name of ['abs', 'rel', 'abs-file', 'deep', 'dots']) {
      assert.equal(readFileSync(join(out, `${name}.txt`), 'utf8'), 'STAGE\n', `${name}: the stage's own file was mounted, not the host's`);
    }
    hostUntouched();
  });

  it('a bind mount of a context symlink pointing out of the context resolves inside the context', () => {
    const dir = context('context-links', [
      `FROM ${env.busybox}`,
      'RUN --mount=type=bind,source=dirlink,target=/m cat /m/secret > /abs.txt',
      'RUN --mount=type=bind,source=rellink,target=/m cat /m/secret > /rel.txt',
      'RUN --mount=type=bind,source=filelink,target=/f cat /f > /file.txt',
      "RUN --mount=type=bind,source=dirlink,target=/m,rw sh -c 'echo pwn > /m/written; echo more >> /m/secret; chmod 777 /m/secret; rm -rf /m/sub; true'",
      "RUN --mount=type=bind,source=filelink,target=/f,rw sh -c 'echo more >> /f; chmod 777 /f; true'",
    ].join('\n'), { [`${host.slice(1)}/secret`]: 'CONTEXT\n' });
    symlinkSync(host, join(dir, 'dirlink'));
    symlinkSync(`../../../../../../../../..${host}`, join(dir, 'rellink'));
    symlinkSync(`${host}/secret`, join(dir, 'filelink'));
    const { out, ...run } = env.buildLocal(dir, 'context-links-out');
    assert.equal(run.status, 0, run.stderr);
    for (const name of ['abs', 'rel', 'file']) {
      assert.equal(readFileSync(join(out, `${name}.txt`), 'utf8'), 'CONTEXT\n', `${name}: the context's own file was mounted, not the host's`);
    }
    hostUntouched();
  });

  it('a bind mount whose source resolves to nothing inside its root fails clearly, touching nothing', () => {
    const dir = context('stage-missing', [
      `FROM ${env.busybox} AS evil`,
      `RUN ln -s ${host} /abs`,
      `FROM ${env.busybox}`,
      "RUN --mount=type=bind,from=evil,source=/abs,target=/m,rw sh -c 'cat /m/secret; echo pwn > /m/written'",
    ].join('\n'));
    const run = env.build([dir]);
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /mount source "\/abs" not found/);
    assert.doesNotMatch(run.stderr, /HOST-SECRET/);
    hostUntouched();
  });

  it('RUN steps never change the user\'s context files: rw binds are discarded, copies are copies', () => {
    const dir = context('user-files', [
      `FROM ${env.busybox}`,
      'COPY a /a',
      'COPY d /d',
      "RUN chmod 777 /a /d/f && echo copied >> /a && echo copied >> /d/f && chown 1:1 /a /d/f && touch -d 2001-01-01 /a",
      // A mount is no layer: a context file with a name reserved in layers is mounted as it is.
      "RUN --mount=type=bind,target=/ctx,rw sh -c 'cat /ctx/.wh.mounted; echo appended >> /ctx/a; chmod 777 /ctx/a /ctx/d /ctx/d/f; chown 123:456 /ctx/a /ctx/d/f; touch -d 2001-01-01 /ctx/d/f; touch /ctx/new; rm /ctx/d/f2'",
      "RUN --mount=type=bind,source=a,target=/one,rw sh -c 'echo appended >> /one; chmod 777 /one'",
      "RUN --mount=type=bind,source=d,target=/dd,rw sh -c 'echo appended >> /dd/f; chmod 700 /dd'",
      "RUN --mount=type=bind,target=/ctx sh -c 'chmod 777 /ctx/a; echo ro >> /ctx/a; true'",
      // A later step sees the context as it is, not what an earlier rw mount did to it.
      'RUN --mount=type=bind,target=/ctx cat /ctx/a /ctx/d/f > /after.txt && ls /ctx > /after-ls.txt',
    ].join('\n'), { a: 'A\n', 'd/f': 'F\n', 'd/f2': 'F2\n', '.wh.mounted': 'M\n' });
    for (const path of ['a', 'd/f', 'd/f2']) {
      chmodSync(join(dir, path), 0o644);
      utimesSync(join(dir, path), past, past);
    }
    utimesSync(join(dir, 'd'), past, past);
    const before = treeState(dir);
    const { out, ...run } = env.buildLocal(dir, 'user-files-out');
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(treeState(dir), before, 'content, mode, owner, mtime and link count of every context file are unchanged');
    assert.equal(readFileSync(join(out, 'after.txt'), 'utf8'), 'A\nF\n');
    assert.doesNotMatch(readFileSync(join(out, 'after-ls.txt'), 'utf8'), /new/);
    assert.equal(readFileSync(join(out, 'a'), 'utf8'), 'A\ncopied\n', 'the image has the RUN step\'s change');
    assert.equal(lstatSync(join(out, 'a')).mode & 0o777, 0o777);
  });

  it('context files named like layer whiteouts are refused with the file named, never written as whiteouts', () => {
    const cases: [string, string, Record<string, string>, RegExp][] = [
      ['wh-file', 'COPY . /', { '.wh.bin': '' }, /\.wh\.bin/],
      ['wh-opaque', 'COPY etc/ /etc/', { 'etc/.wh..wh..opq': '' }, /\.wh\.\.wh\.\.opq/],
      ['wh-dest', 'COPY f /.wh.etc', { f: 'x' }, /\.wh\.etc/],
      ['wh-run', 'RUN touch /.wh.bin /etc/.wh..wh..opq', {}, /\.wh\.bin/],
    ];
    for (const [name, step, files, pattern] of cases) {
      const dir = context(name, `FROM ${env.busybox}\n${step}\nRUN ls /bin/sh /etc/passwd\n`, files);
      const out = join(env.work, `${name}-out`);
      const run = env.build(['-o', `type=oci,dest=${out}.tar`, dir]);
      assert.notEqual(run.status, 0, `${name}: the build must fail`);
      assert.equal(run.status, 4, `${name}: FILE_OPERATION\n${run.stderr}`);
      assert.match(run.stderr, pattern, name);
      assert.match(run.stderr, /reserved/, name);
      assert.ok(!existsSync(`${out}.tar`), `${name}: no image was written`);
    }
  });

  it('after USER with a name the image does not know, WORKDIR creates the directory as root (BuildKit)', () => {
    const dir = context('workdir-unknown-user', [
      `FROM ${env.busybox}`,
      'USER nosuch:nogroup2',
      'WORKDIR /made/here',
      'USER app:nosuchgroup',
      'WORKDIR /app-made',
      'USER root',
      "RUN stat -c '%u:%g' /made /made/here /app-made > /owners",
    ].join('\n'));
    const { out, ...run } = env.buildLocal(dir, 'workdir-unknown-user-out');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'owners'), 'utf8'), '0:0\n0:0\n1000:1000\n');
  });

  it('COPY/ADD from the context give files 0:0 without --chown, whoever owns them on the host', () => {
    const dir = context('context-owner', [
      `FROM ${env.busybox}`,
      'COPY f /f',
      'COPY d /d',
      'ADD d /added',
      'COPY --chown=7:8 f /chowned',
      "RUN stat -c '%u:%g' /f /d /d/g /d/link /added/g /chowned > /owners",
    ].join('\n'), { f: 'f', 'd/g': 'g' });
    symlinkSync('g', join(dir, 'd/link'));
    for (const path of ['f', 'd', 'd/g', 'd/link']) lchownSync(join(dir, path), 1234, 5678);
    const { out, ...run } = env.buildLocal(dir, 'context-owner-out');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'owners'), 'utf8'), '0:0\n0:0\n0:0\n0:0\n0:0\n7:8\n');
  });

  it('a COPY glob through ** that matches nothing copies nothing (BuildKit)', () => {
    const dir = context('glob-empty', [
      `FROM ${env.busybox}`,
      'COPY a/**/e /dst/',
      'COPY a/*/nothing* /dst2/',
      'COPY a/**/c /found/',
      'RUN ls /found > /found.txt && (test -e /dst && echo dst exists || echo no dst) > /dst.txt',
    ].join('\n'), { 'a/b/c': 'c' });
    const { out, ...run } = env.buildLocal(dir, 'glob-empty-out');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'found.txt'), 'utf8'), 'c\n');
    assert.equal(readFileSync(join(out, 'dst.txt'), 'utf8'), 'no dst\n');
  });
});

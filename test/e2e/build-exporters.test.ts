import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { lstatSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH } from '../helpers/cli.js';

/** Every path under `root` (relative, sorted), with type, mode, owner, size and mtime. */
function listing(root: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, prefix)).sort()) {
    const path = prefix === '' ? name : `${prefix}/${name}`;
    const stat = lstatSync(join(root, path));
    const kind = stat.isDirectory() ? 'd' : stat.isSymbolicLink() ? 'l' : stat.isFile() ? 'f' : 'o';
    out.push(`${kind} ${path} ${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid} ${stat.isFile() ? stat.size : 0} ${Math.floor(stat.mtimeMs / 1000)}`);
    if (stat.isDirectory()) out.push(...listing(root, path));
  }
  return out;
}

describe('exporters: resolve before the build, check before any pull, outputs from the final snapshot', () => {
  let env: BuildEnv;
  let registry: Server;
  let registryRequests = 0;
  let registryHost = '';
  before(async () => {
    env = await startBuildEnv();
    // A "registry" that only counts: any request to it means the build resolved or pulled an image.
    registry = createServer((request, response) => {
      registryRequests++;
      response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    registryHost = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => registry.close(() => resolve()));
    await env.close();
  });

  const context = (name: string, dockerfile: string): string => {
    const dir = join(env.work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  };

  it('a missing required secret fails at its line before any base image is resolved or pulled', () => {
    const dir = context('secret-first', `FROM ${registryHost}/never/pulled:1\nRUN echo one\nRUN --mount=type=secret,id=token,required=true cat /run/secrets/token\n`);
    const started = Date.now();
    const run = env.build([dir]);
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /secret token is required but was not given/);
    assert.match(run.stderr, /Dockerfile:3/);
    assert.equal(registryRequests, 0, 'the registry of FROM was never contacted');
    assert.ok(!run.events.some((e) => e.type === 'vertex.started'), 'no step started');
    assert.ok(Date.now() - started < 30_000);
  });

  it('a missing required ssh agent fails the same way; optional ones and unneeded stages do not', () => {
    const ssh = context('ssh-first', `FROM ${registryHost}/never/pulled:1\nRUN --mount=type=ssh,id=deploy,required=true true\n`);
    const run = env.build([ssh]);
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /ssh agent deploy is required but was not given/);
    assert.match(run.stderr, /Dockerfile:2/);
    assert.equal(registryRequests, 0);

    const optional = context('optional', `FROM ${env.busybox} AS unused\nRUN --mount=type=secret,id=absent,required=true false\n\nFROM ${env.busybox}\nRUN --mount=type=secret,id=absent true\nRUN --mount=type=ssh true\n`);
    const ok = env.build([optional]);
    assert.equal(ok.status, 0, ok.stderr);
  });

  it('a required secret whose id comes from an ARG is caught after convert, before any step runs', () => {
    const dir = context('secret-arg', `FROM ${env.busybox}\nARG ID=fromarg\nRUN echo ran > /ran\nRUN --mount=type=secret,id=$ID,required=true true\n`);
    const run = env.build([dir]);
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stderr, /secret fromarg is required but was not given/);
    assert.match(run.stderr, /Dockerfile:4/);
    assert.ok(!run.events.some((e) => e.type === 'vertex.started' && /RUN/.test(e.name)), 'no RUN step started');
  });

  it('-o type=local and type=tar: files deleted or hidden by a later layer never reappear; owners, modes, hardlinks kept', () => {
    const dir = context('deleted', [
      `FROM ${env.busybox}`,
      'RUN mkdir -p /d/sub /opq && echo a > /d/gone && echo b > /d/kept && echo c > /d/sub/deep && echo old > /opq/old',
      'RUN rm /d/gone && rm -r /d/sub && rm -rf /opq && mkdir /opq && echo new > /opq/new',
      'RUN echo x > /owned && chown 1234:5678 /owned && chmod 4750 /owned && ln /d/kept /d/kept-link && rm /bin/true',
      '',
    ].join('\n'));
    const { out, ...run } = env.buildLocal(dir, 'deleted-out');
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'd/kept'), 'utf8'), 'b\n');
    assert.deepEqual(readdirSync(join(out, 'd')).sort(), ['kept', 'kept-link']);
    assert.deepEqual(readdirSync(join(out, 'opq')), ['new'], 'a directory replaced by a later layer holds only its new files');
    assert.throws(() => lstatSync(join(out, 'bin/true')), /ENOENT/, 'a base-image file deleted by a step');
    assert.ok(lstatSync(join(out, 'bin/busybox')).isFile());
    const owned = lstatSync(join(out, 'owned'));
    assert.equal(owned.mode & 0o7777, 0o4750);
    assert.equal(`${owned.uid}:${owned.gid}`, '1234:5678');
    assert.equal(lstatSync(join(out, 'd/kept')).ino, lstatSync(join(out, 'd/kept-link')).ino, 'hardlinks stay hardlinks');
    const all = listing(out);
    assert.ok(!all.some((l) => l.includes('.wh.')), 'no whiteout appears');

    // The tar output holds the same tree: extracted, it lists the same.
    const tarFile = join(env.work, 'deleted.tar');
    const tarRun = env.build(['-o', `type=tar,dest=${tarFile}`, dir]);
    assert.equal(tarRun.status, 0, tarRun.stderr);
    const fromTar = join(env.work, 'deleted-tar');
    mkdirSync(fromTar);
    execFileSync('tar', ['-xpf', tarFile, '--numeric-owner', '-C', fromTar]);
    assert.deepEqual(listing(fromTar), all);
  });

  it('`build -o - | head -c 100` ends quietly: a reader that closes the pipe early is no error', () => {
    const dir = context('pipe', `FROM ${env.busybox}\nRUN echo piped > /piped\n`);
    const root = join(env.work, 'root');
    const script = `"${process.execPath}" "${CLI_PATH}" --root "${root}" build --progress=plain -o - "${dir}" 2>"${join(env.work, 'pipe.err')}" | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`;
    const result = spawnSync('bash', ['-c', script], { encoding: 'utf8' });
    const stderr = readFileSync(join(env.work, 'pipe.err'), 'utf8');
    assert.equal(result.stdout.trim(), '0', stderr);
    assert.doesNotMatch(stderr, /internal error|EPIPE|error:/i);
  });
});

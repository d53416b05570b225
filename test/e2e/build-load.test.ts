/**
 * `--load` and `-o type=docker` without dest, as buildx: the image is loaded into the local Docker
 * daemon (a private dockerd here, reached through DOCKER_HOST) and `docker run` runs it; with no daemon
 * the build fails before any step runs, naming the socket.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { startDockerd, type TestDockerd } from '../helpers/dockerd.js';

describe('build --load: into the local Docker daemon', () => {
  let env: BuildEnv;
  let daemon: TestDockerd | undefined;
  let skip: string | undefined;
  before(async () => {
    env = await startBuildEnv();
    const started = await startDockerd();
    if ('skip' in started) skip = started.skip;
    else daemon = started;
  });
  after(async () => {
    await daemon?.stop();
    await env.close();
  });

  const context = (name: string, dockerfile: string): string => {
    const dir = join(env.work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    return dir;
  };

  it('build --load -t app && docker run app works; -o type=docker without dest does the same', (t) => {
    if (daemon === undefined) return t.skip(skip);
    const dir = context('load', `FROM ${env.busybox}\nRUN echo loaded-by-stagecraft > /msg\nCMD ["cat", "/msg"]\n`);
    const iidfile = join(env.work, 'load.iid');
    const run = env.build(['--load', '-t', 'stagecraft-load:v1', '--iidfile', iidfile, dir], { env: { DOCKER_HOST: daemon.host } });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(daemon.docker(['run', '--rm', '--network', 'none', 'stagecraft-load:v1']).trim(), 'loaded-by-stagecraft');
    // The daemon's image ID is stagecraft's image ID (the config digest).
    const id = daemon.docker(['image', 'inspect', '--format', '{{.Id}}', 'stagecraft-load:v1']).trim();
    assert.equal(readFileSync(iidfile, 'utf8').trim(), id);

    const output = env.build(['-o', 'type=docker,name=stagecraft-load:v2', dir], { env: { DOCKER_HOST: daemon.host } });
    assert.equal(output.status, 0, output.stderr);
    assert.equal(daemon.docker(['run', '--rm', '--network', 'none', 'stagecraft-load:v2']).trim(), 'loaded-by-stagecraft');
  });

  it('with no daemon, --load fails before any step runs and says how to fix it', () => {
    const dir = context('nodaemon', `FROM ${env.busybox}\nRUN echo never\n`);
    const run = env.build(['--load', '-t', 'x:1', dir], { env: { DOCKER_HOST: `unix://${join(env.work, 'no-such.sock')}` } });
    assert.equal(run.status, 9, run.stderr);
    assert.match(run.stderr, /no Docker daemon at .*no-such\.sock/);
    assert.match(run.stderr, /dest=FILE/);
    assert.ok(!run.events.some((e) => e.type === 'vertex.started'), 'no step started');
  });
});

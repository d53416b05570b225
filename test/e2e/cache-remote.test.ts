import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';

describe('--cache-to / --cache-from between empty state roots', () => {
  let env: BuildEnv;
  let context: string;
  before(async () => {
    env = await startBuildEnv();
    context = env.exampleContext('hello');
  });
  after(async () => {
    await env.close();
  });

  const executed = (run: ReturnType<BuildEnv['build']>): number => {
    const done = run.events.find((e) => e.type === 'build.completed');
    return done?.type === 'build.completed' ? done.executed : -1;
  };
  const blobs = (root: string): number => readdirSync(join(root, 'content/blobs/sha256')).length;

  for (const mode of ['min', 'max'] as const) {
    it(`through a real registry, mode=${mode}: the importing build runs no step`, async () => {
      const ref = `${env.registry.host}/hello-cache:${mode}`;
      const first = await env.newRoot();
      const exporting = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-to', `type=registry,ref=${ref},mode=${mode}`, context], { root: first });
      assert.equal(exporting.status, 0, exporting.stderr);
      assert.ok(executed(exporting) > 5);
      const second = await env.newRoot();
      const out = join(env.work, `cache-out-${mode}`);
      const importing = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-from', `type=registry,ref=${ref}`, '-o', `type=local,dest=${out}`, context], { root: second });
      assert.equal(importing.status, 0, importing.stderr);
      assert.equal(executed(importing), 0, 'no step ran');
      assert.ok(!importing.events.some((e) => e.type === 'vertex.started' && /RUN|COPY|WORKDIR/.test(e.name)));
      assert.equal(readFileSync(join(out, 'app/GREETING.txt'), 'utf8'), 'HELLO FROM STAGECRAFT\n');
      if (mode === 'max') assert.ok(blobs(second) < blobs(first), `only the needed layers were pulled (${blobs(second)} < ${blobs(first)} blobs)`);
    });
  }

  it('through a local directory', async () => {
    const dir = join(env.work, 'cache-dir');
    const first = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-to', `type=local,dest=${dir},mode=max`, context], { root: await env.newRoot() });
    assert.equal(first.status, 0, first.stderr);
    const second = env.build(['--build-arg', `REGISTRY=${env.registry.host}`, '--cache-from', `type=local,src=${dir}`, context], { root: await env.newRoot() });
    assert.equal(second.status, 0, second.stderr);
    assert.equal(executed(second), 0);
  });

  it('rejects malformed cache specs before building', () => {
    const run = env.build(['--cache-to', 'type=registry', context]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /type=registry needs ref=/);
    assert.equal(env.build(['--cache-to', 'type=s3,bucket=x', context]).status, 2);
  });
});

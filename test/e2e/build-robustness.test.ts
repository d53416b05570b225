import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH } from '../helpers/cli.js';

function cli(args: readonly string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('exit', (status) => resolve({ status, stderr }));
  });
}

const overlayMounts = (root: string): number => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root)).length;

describe('builds that overlap or are killed', () => {
  let env: BuildEnv;
  before(async () => {
    env = await startBuildEnv();
  });
  after(async () => {
    await env.close();
  });

  it('two builds of one Dockerfile at once on one state root both succeed and agree on the digest', async () => {
    const dir = join(env.work, 'concurrent');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN echo one > /one && sleep 1\nCOPY f /f\nRUN cat /f /one > /both\n`);
    writeFileSync(join(dir, 'f'), 'file\n');
    const root = await env.newRoot();
    const runs = await Promise.all([1, 2].map((i) => cli(['--root', root, 'build', '--progress=quiet', '--build-arg', 'SOURCE_DATE_EPOCH=1', '--provenance=false', '--metadata-file', join(env.work, `c${i}.json`), dir])));
    for (const run of runs) assert.equal(run.status, 0, run.stderr);
    const digests = [1, 2].map((i) => (JSON.parse(readFileSync(join(env.work, `c${i}.json`), 'utf8')) as Record<string, string>)['containerimage.digest']);
    assert.equal(digests[0], digests[1]);
  });

  it('a build killed with SIGKILL mid-step leaves a store the next build uses, without the partial step', { timeout: 60_000 }, async () => {
    const dir = join(env.work, 'killed');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nRUN echo partial > /partial && sleep 3 && echo done > /done\n`);
    const root = await env.newRoot();
    const child = spawn(process.execPath, [CLI_PATH, '--root', root, 'build', '--progress=rawjson', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve) => {
      let seen = '';
      child.stderr.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (/"type":"vertex.started"[^\n]*RUN echo partial/.test(seen)) setTimeout(resolve, 1000);
      });
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const out = join(env.work, 'killed-out');
    const next = env.build(['-o', `type=local,dest=${out}`, dir], { root });
    assert.equal(next.status, 0, next.stderr);
    assert.ok(next.events.some((e) => e.type === 'vertex.started' && /RUN echo partial/.test(e.name)), 'the killed step ran again');
    assert.equal(readFileSync(join(out, 'done'), 'utf8'), 'done\n');
    assert.equal(overlayMounts(root), 0, 'no mount of the killed build is left');
    const runcState = '/run/stagecraft';
    const leftovers = existsSync(runcState) ? readdirSync(runcState) : [];
    assert.ok(!leftovers.some((name) => name.startsWith(`${child.pid ?? 'none'}-`)), 'the killed build\'s runc state was swept');
  });
});

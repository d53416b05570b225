/**
 * `stagecraft lock` and `build --locked --offline` end to end (built CLI, real runc/overlayfs, a real
 * docker-registry), on a small variant of the shared bench workload w1 (build stage, test stage
 * gating the runtime stage, COPY --from stages, plus a COPY --from=<image>): lock, a first build,
 * then the rebuild from a fresh checkout path on the same state root, inside a new network
 * namespace with only loopback (no route to the registry), gives the same manifest digest. A stale
 * lock fails naming the line; --offline on an empty state root fails naming the image and line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeBusyboxImage, pushLayout } from '../helpers/base-image.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';

/** Runs the CLI in a new network namespace whose only interface is loopback: no registry is reachable. */
function runIsolated(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$@"', 'sh', process.execPath, CLI_PATH, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function manifestOf(metadataFile: string): string {
  const metadata = JSON.parse(readFileSync(metadataFile, 'utf8')) as Record<string, unknown>;
  return String(metadata['containerimage.digest']);
}

describe('lock and offline rebuilds (e2e)', { timeout: 300_000 }, () => {
  let env: BuildEnv;
  let context: string;
  let tools: string;

  before(async () => {
    env = await startBuildEnv();
    tools = `${env.registry.host}/tools:1`;
    pushLayout(await makeBusyboxImage(join(env.work, 'tools')), tools);
    context = join(env.work, 'w1');
    await mkdir(join(context, 'src'), { recursive: true });
    for (let i = 0; i < 8; i++) await writeFile(join(context, 'src', `mod${i}.c`), `int mod${i}(void) { return ${i}; }\n`);
    await writeFile(join(context, 'Makefile'), 'app: ; cat src/*.c > app\n');
    await writeFile(join(context, 'Dockerfile'), [
      `FROM ${env.busybox} AS build`,
      'WORKDIR /src',
      'COPY Makefile ./',
      'COPY src/ src/',
      'RUN cat src/*.c > app && chmod 0755 app',
      '',
      'FROM build AS test',
      'RUN wc -l < ./app | tee /test-report.txt',
      '',
      `FROM ${env.busybox} AS runtime`,
      'COPY --from=build /src/app /usr/local/bin/app',
      'COPY --from=test /test-report.txt /usr/share/app/test-report.txt',
      `COPY --from=${tools} /bin/busybox /usr/local/bin/tool`,
      'ENTRYPOINT ["/usr/local/bin/app"]',
      '',
    ].join('\n'));
  });

  after(async () => {
    await env.close();
  });

  it('lock + first build, then --locked --offline in a network namespace from a fresh checkout: the same digest', async () => {
    const root = await env.newRoot();
    const lock = runCli(['--root', root, 'lock', context]);
    assert.equal(lock.status, 0, lock.stderr);
    const written = JSON.parse(readFileSync(join(context, 'stagecraft.lock'), 'utf8')) as { version: number; images: { name: string; platform: string; digest: string }[]; dockerfile: { digest: string } };
    assert.equal(written.version, 1);
    assert.deepEqual(written.images.map((i) => i.name).sort(), [`${env.busybox}`, tools].sort());
    assert.ok(written.images.every((i) => /^sha256:[a-f0-9]{64}$/u.test(i.digest) && i.platform === 'linux/amd64'));

    const first = env.build(['--locked', '--provenance=false', '--metadata-file', join(env.work, 'first.json'), '-t', 'w1:1', context], { root });
    assert.equal(first.status, 0, first.stderr.slice(-3000));

    const checkout = join(env.work, 'checkout-2');
    cpSync(context, checkout, { recursive: true });
    const second = runIsolated(['--root', root, 'build', '--progress=plain', '--locked', '--offline', '--provenance=false', '--metadata-file', join(env.work, 'second.json'), '-t', 'w1:2', checkout]);
    assert.equal(second.status, 0, second.stderr.slice(-3000));
    assert.equal(manifestOf(join(env.work, 'second.json')), manifestOf(join(env.work, 'first.json')));

    // The namespace really has no way out: the same rebuild without --offline cannot reach the registry with --pull.
    const online = runIsolated(['--root', root, 'build', '--progress=plain', '--pull', '--provenance=false', checkout]);
    assert.notEqual(online.status, 0, 'a --pull build reached the registry from the isolated namespace');
  });

  it('--offline on an empty state root fails naming the image and its line, without contacting the registry', async () => {
    const run = runIsolated(['--root', await env.newRoot(), 'build', '--progress=plain', '--offline', context]);
    assert.equal(run.status, 6, run.stderr.slice(-2000));
    assert.match(run.stderr, /Dockerfile:1: image .*busybox:latest \(linux\/amd64\) is not in the local store, and --offline does not contact its registry/u);
  });

  it('--locked with a stale lock fails naming the line and the fix', async () => {
    const stale = join(env.work, 'stale');
    cpSync(context, stale, { recursive: true });
    const root = await env.newRoot();
    const nolock = join(env.work, 'nolock');
    await mkdir(nolock);
    await writeFile(join(nolock, 'Dockerfile'), readFileSync(join(context, 'Dockerfile')));
    const none = runCli(['--root', root, 'build', '--locked', '--progress=quiet', nolock]);
    assert.equal(none.status, 13, none.stderr);
    assert.match(none.stderr, /--locked: cannot read .*nolock\/stagecraft\.lock: no such file[\s\S]*run `stagecraft lock`/u);
    const locked = runCli(['--root', root, 'lock', stale]);
    assert.equal(locked.status, 0, locked.stderr);
    const dockerfile = readFileSync(join(stale, 'Dockerfile'), 'utf8').replace(`COPY --from=${tools}`, `COPY --from=${env.registry.host}/tools:2`);
    await writeFile(join(stale, 'Dockerfile'), dockerfile);
    const run = env.build(['--locked', stale], { root });
    assert.equal(run.status, 13, run.stderr.slice(-2000));
    assert.match(run.stderr, new RegExp(`Dockerfile:13: image ${env.registry.host.replace(/\./gu, '\\.')}/tools:2 \\(linux/amd64\\) is not in .*stagecraft\\.lock`, 'u'));
    assert.match(run.stderr, /stagecraft lock/u);

    // A changed line that brings no new input: the Dockerfile's digest no longer matches.
    await writeFile(join(stale, 'Dockerfile'), readFileSync(join(context, 'Dockerfile'), 'utf8').replace('wc -l', 'wc -c'));
    const changed = env.build(['--locked', stale], { root });
    assert.equal(changed.status, 13, changed.stderr.slice(-2000));
    assert.match(changed.stderr, /Dockerfile changed since .*stagecraft\.lock was written/u);
  });
});

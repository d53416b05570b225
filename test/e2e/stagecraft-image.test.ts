/**
 * stagecraft's own image, built by stagecraft from this repository (scripts/build-image.sh, Dockerfile)
 * on a Debian bookworm base made here with debootstrap, and then used as the builder pod's image: the
 * Job from `stagecraft k8s job` runs inside the image's filesystem (a chroot with /proc, /sys, /dev and
 * the pod's volumes, as a privileged container would see them) and builds a project with the image's own
 * stagecraft and runc.
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import { debianRootfs, pushLayout, writeLayoutImage } from '../helpers/base-image.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Runs `argv` inside the image's filesystem as a privileged container would: in a private mount
 * namespace, the root a mount point, /proc, /sys and /dev from the host, fresh /run and /tmp, and
 * `binds` (source, mount path pairs) for the pod's volumes.
 */
function inImage(rootfs: string, argv: readonly string[], binds: readonly string[] = [], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  const setup = [
    'set -eu',
    'root=$1; shift',
    // A container's root is a mount point (runc pivots into it): bind the image's root onto itself.
    'mount --bind "$root" "$root"',
    'for fs in proc sys dev; do mount --rbind "/$fs" "$root/$fs"; done',
    'mount -t tmpfs tmpfs "$root/run"; mount -t tmpfs tmpfs "$root/tmp"',
    'cp /etc/resolv.conf "$root/etc/resolv.conf"',
    'while [ "$1" != "--" ]; do mkdir -p "$root$2"; mount --bind "$1" "$root$2"; shift 2; done',
    'shift',
    'exec chroot "$root" "$@"',
  ].join('\n');
  return spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', setup, 'pod', rootfs, ...binds, '--', ...argv], {
    encoding: 'utf8',
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...env },
    maxBuffer: 64 << 20,
  });
}

describe('stagecraft\'s own image (built by stagecraft) runs a Job\'s build inside it', { timeout: 900_000 }, () => {
  let env: BuildEnv;
  let rootfs: string;
  let tag: string;

  before(async () => {
    env = await startBuildEnv();
    const debian = await writeLayoutImage(await debianRootfs(), join(env.work, 'debian-layout'), ['bash']);
    pushLayout(debian, `${env.registry.host}/debian:bookworm-slim`);
    tag = `${env.registry.host}/stagecraft:test`;
    rootfs = join(env.work, 'image-rootfs');
    const built = spawnSync('bash', [join(REPO, 'scripts/build-image.sh'), tag, '--progress=plain', '-o', `type=local,dest=${rootfs}`], {
      cwd: REPO,
      encoding: 'utf8',
      env: { ...process.env, BASE: `${env.registry.host}/debian:bookworm-slim`, STAGECRAFT_ROOT: join(env.work, 'root') },
      maxBuffer: 64 << 20,
    });
    assert.equal(built.status, 0, built.stderr.slice(-4000));
  });
  after(async () => {
    await env.close();
  });

  it('holds stagecraft (this version), Node, runc, slirp4netns, ip and git', () => {
    const run = (argv: readonly string[]): string => {
      const result = inImage(rootfs, argv);
      assert.equal(result.status, 0, `${argv.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    assert.match(run(['stagecraft', 'version']), new RegExp(version.replaceAll('.', '\\.')));
    assert.match(run(['node', '--version']), /^v20\./);
    assert.match(run(['runc', '--version']), /runc version/);
    run(['slirp4netns', '--version']);
    run(['ip', '-V']);
    assert.match(run(['git', '--version']), /git version/);
  });

  it('the Job\'s build container, run in the image, builds and pushes a project from its claim', async () => {
    const claim = join(env.work, 'claim');
    cpSync(fileURLToPath(new URL('../../examples/hello', import.meta.url)), join(claim, 'app'), { recursive: true });
    const generated = runCli(['k8s', 'job', '--format', 'json', '--image', tag, '--context-pvc', 'sources/app', '--',
      '--progress=plain', '--build-arg', `REGISTRY=${env.registry.host}`, '--push', '-t', `${env.registry.host}/hello:from-pod`]);
    assert.equal(generated.status, 0, generated.stderr);
    const job = JSON.parse(generated.stdout) as IJob;
    const container = job.spec?.template.spec?.containers[0];
    assert.ok(container?.command !== undefined);
    // The pod's volumes as directories; the kernel file systems a privileged container gets.
    const volumes: Record<string, string> = { state: join(env.work, 'pod-state'), out: join(env.work, 'pod-out'), workspace: claim };
    const binds: string[] = [];
    for (const mount of container.volumeMounts ?? []) {
      const source = volumes[mount.name];
      assert.ok(source !== undefined, mount.name);
      mkdirSync(source, { recursive: true });
      binds.push(source, mount.mountPath);
    }
    const podEnv = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value ?? '']));
    const result = inImage(rootfs, container.command, binds, podEnv);
    assert.equal(result.status, 0, result.stderr.slice(-4000));
    const metadata = JSON.parse(readFileSync(join(volumes.out ?? '', 'metadata.json'), 'utf8')) as Record<string, unknown>;
    assert.match(String(metadata['containerimage.digest']), /^sha256:[0-9a-f]{64}$/);
    assert.match(result.stdout, /stagecraft metadata:/);
    const pushed = await fetch(`${env.registry.url}/v2/hello/manifests/from-pod`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(pushed.status, 200);
    assert.equal(pushed.headers.get('docker-content-digest'), metadata['containerimage.digest']);
  });
});

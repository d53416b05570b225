/**
 * `stagecraft k8s job` without a cluster (none can run here): the generated Job's pod is run locally as
 * the kubelet would — its container command as argv, its env, its volumes (emptyDirs and the context
 * claim as directories) bound at their mount paths (read-only where the manifest says so) in a private
 * mount namespace — with `stagecraft` on PATH being this build of the CLI. Two pods with fresh
 * emptyDirs share the cache through a real docker-registry, as builders in a cluster would.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { RawJsonLine } from '../../src/events/index.js';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';

describe('stagecraft k8s job: the pod\'s command, env and volume layout, run locally', { timeout: 240_000 }, () => {
  let env: BuildEnv;
  let claims: string;
  const madeMountPoints: string[] = [];

  before(async () => {
    env = await startBuildEnv();
    claims = join(env.work, 'claims');
    // The PersistentVolumeClaim "sources" holds the project under app/.
    cpSync(fileURLToPath(new URL('../../examples/hello', import.meta.url)), join(claims, 'sources', 'app'), { recursive: true });
    const bin = join(env.work, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'stagecraft'), `#!/bin/sh\nexec "${process.execPath}" "${CLI_PATH}" "$@"\n`);
    chmodSync(join(bin, 'stagecraft'), 0o755);
  });
  after(async () => {
    for (const dir of madeMountPoints.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty or gone: leave it
      }
    }
    await env.close();
  });

  const generate = (args: readonly string[]): IJob => {
    const run = runCli(['k8s', 'job', '--format', 'json', ...args]);
    assert.equal(run.status, 0, run.stderr);
    const job = JSON.parse(run.stdout) as IJob;
    new Job(job).validate();
    return job;
  };

  /** Runs the pod's `build` container; each emptyDir is a fresh directory under `podDir`. */
  const runPod = (job: IJob, podDir: string, extraEnv: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string; out: string } => {
    const spec = job.spec?.template.spec;
    const build = spec?.containers.find((c) => c.name === 'build');
    assert.ok(spec !== undefined && build !== undefined);
    const binds: string[] = [];
    for (const mount of build.volumeMounts ?? []) {
      const volume = spec.volumes?.find((v) => v.name === mount.name);
      assert.ok(volume, `volume ${mount.name}`);
      let source: string;
      if (volume.emptyDir !== undefined) {
        source = join(podDir, mount.name);
        mkdirSync(source, { recursive: true });
      } else if (volume.persistentVolumeClaim !== undefined) {
        source = join(claims, volume.persistentVolumeClaim.claimName);
      } else {
        assert.fail(`unexpected volume kind for ${mount.name}`);
      }
      if (!existsSync(mount.mountPath)) {
        mkdirSync(mount.mountPath, { recursive: true });
        madeMountPoints.push(mount.mountPath);
      }
      binds.push(source, mount.mountPath, mount.readOnly === true ? 'ro' : 'rw');
    }
    // In a private mount namespace: bind each volume at its mount path, then exec the container's command.
    const setup = [
      'set -eu',
      'while [ "$1" != "--" ]; do mount --bind "$1" "$2"; if [ "$3" = ro ]; then mount -o remount,bind,ro "$2"; fi; shift 3; done',
      'shift',
      'exec "$@"',
    ].join('\n');
    const containerEnv = Object.fromEntries((build.env ?? []).map((e) => [e.name, e.value ?? '']));
    const result = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', setup, 'pod', ...binds, '--', ...(build.command ?? []), ...(build.args ?? [])], {
      encoding: 'utf8',
      env: { PATH: `${join(env.work, 'bin')}:/usr/sbin:/usr/bin:/sbin:/bin`, HOME: '/root', ...containerEnv, ...extraEnv },
      maxBuffer: 64 << 20,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, out: join(podDir, 'out') };
  };

  const executed = (stderr: string): number => {
    for (const line of stderr.split('\n')) {
      if (!line.startsWith('{')) continue;
      const event = RawJsonLine.parse(JSON.parse(line));
      if (event.type === 'build.completed') return event.executed;
    }
    return -1;
  };

  it('a Job builds and pushes from the claim; a second pod with empty state runs zero steps through the registry cache', async () => {
    const cache = `${env.registry.host}/hello:buildcache`;
    const job = generate(['--image', 'stagecraft:test', '--context-pvc', 'sources/app', '--cache', cache, '--',
      '--progress=rawjson', '--build-arg', `REGISTRY=${env.registry.host}`, '--push', '-t', `${env.registry.host}/hello:k8s`]);

    const first = runPod(job, join(env.work, 'pod-1'));
    assert.equal(first.status, 0, first.stderr.slice(-3000));
    assert.ok(executed(first.stderr) >= 5, 'the first pod ran the steps');
    // The result: in the metadata volume and on the pod's log.
    const metadata = JSON.parse(readFileSync(join(first.out, 'metadata.json'), 'utf8')) as Record<string, unknown>;
    assert.match(String(metadata['containerimage.digest']), /^sha256:[0-9a-f]{64}$/);
    assert.match(first.stdout, /stagecraft metadata:/);
    assert.deepEqual(JSON.parse(first.stdout.slice(first.stdout.indexOf('{'))), metadata);
    const tag = await fetch(`${env.registry.url}/v2/hello/manifests/k8s`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(tag.status, 200, 'the image was pushed');
    assert.equal(tag.headers.get('docker-content-digest'), metadata['containerimage.digest']);

    const second = runPod(job, join(env.work, 'pod-2'));
    assert.equal(second.status, 0, second.stderr.slice(-3000));
    assert.equal(executed(second.stderr), 0, 'the second pod repeated no step');
  });

  it('an Indexed Job: each completion index builds its own target', () => {
    const job = generate(['--image', 'stagecraft:test', '--context-pvc', 'sources/app', '--targets', 'greeting,app', '--',
      '--progress=rawjson', '--build-arg', `REGISTRY=${env.registry.host}`, '-o', 'type=tar,dest=/out/files.tar']);
    for (const index of [0, 1]) {
      const pod = runPod(job, join(env.work, `indexed-${index}`), { JOB_COMPLETION_INDEX: String(index) });
      assert.equal(pod.status, 0, pod.stderr.slice(-3000));
      assert.ok(existsSync(join(pod.out, `metadata-${index}.json`)));
      const listing = spawnSync('tar', ['-tf', join(pod.out, 'files.tar')], { encoding: 'utf8' }).stdout;
      if (index === 0) assert.match(listing, /out\/GREETING\.txt/);
      else assert.match(listing, /app\/hello/);
    }
  });
});

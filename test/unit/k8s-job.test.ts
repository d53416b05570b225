import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Job } from 'kubernetes-models/batch/v1/Job';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import { isStagecraftError } from '../../src/core/index.js';
import { POD_PATHS, buildJob, validateJob, type JobRequest } from '../../src/k8s/index.js';

const base: JobRequest = {
  name: 'app-build',
  image: 'registry.example.com/stagecraft:0.1.0',
  context: { kind: 'pvc', claim: 'sources', subPath: 'app' },
  buildFlags: ['--push', '-t', 'registry.example.com/app:1'],
};

const container = (job: IJob, name = 'build') => {
  const found = job.spec?.template.spec?.containers.find((c) => c.name === name) ?? job.spec?.template.spec?.initContainers?.find((c) => c.name === name);
  assert.ok(found, `container ${name}`);
  return found;
};

/** Runs a container's command the way the kubelet would (command as argv, the container's env), with `stagecraft` a fake printing its argv as JSON. */
function runPodCommand(job: IJob, env: Record<string, string> = {}, name = 'build'): { status: number | null; argv: string[][]; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'stagecraft-k8s-unit-'));
  try {
    const log = join(dir, 'argv.jsonl');
    writeFileSync(join(dir, 'stagecraft'), `#!/bin/sh\nnode -e 'require("fs").appendFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)) + "\\n")' "${log}" "$@"\nfor a in "$@"; do case "$prev" in --metadata-file) echo '{"containerimage.digest":"sha256:0"}' > "$a";; esac; prev=$a; done\n`);
    writeFileSync(join(dir, 'git'), `#!/bin/sh\nnode -e 'require("fs").appendFileSync(process.argv[1], JSON.stringify(["git", ...process.argv.slice(2)]) + "\\n")' "${log}" "$@"\n`);
    chmodSync(join(dir, 'stagecraft'), 0o755);
    chmodSync(join(dir, 'git'), 0o755);
    const c = container(job, name);
    const argv = c.command ?? [];
    // The metadata path is the pod's /out: point it at the temp dir for this run.
    const script = (argv[2] ?? '').replaceAll(POD_PATHS.out, dir);
    const podEnv = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '']));
    const result = spawnSync(argv[0] ?? 'sh', [argv[1] ?? '-c', script, ...argv.slice(3)], { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}`, ...podEnv, ...env } });
    let lines: string[] = [];
    try {
      lines = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
    } catch {
      // nothing ran
    }
    return { status: result.status, argv: lines.map((l) => JSON.parse(l) as string[]), stderr: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('stagecraft k8s job: manifests', () => {
  it('every variant validates against the Kubernetes OpenAPI schema (kubernetes-models)', async () => {
    const variants: JobRequest[] = [
      base,
      { ...base, context: { kind: 'git', url: 'https://git.example.com/app.git', ref: 'main', subPath: 'svc' } },
      { ...base, namespace: 'ci', cache: 'registry.example.com/app:buildcache', registrySecret: 'regcred', resultClaim: 'results', resources: { cpu: '2', memory: '4Gi' } },
      { ...base, targets: ['api', 'worker', 'cli'], parallelism: 2, activeDeadlineSeconds: 3600, backoffLimit: 1, ttlSecondsAfterFinished: 60 },
    ];
    for (const request of variants) {
      const job = buildJob(request);
      await validateJob(job);
      new Job(job).validate();
    }
  });

  it('the validator is real: a broken manifest is refused', async () => {
    const job = buildJob(base);
    const broken = structuredClone(job) as unknown as { spec: { template: { spec: { restartPolicy: unknown; containers: unknown } } } };
    broken.spec.template.spec.containers = 'build';
    await assert.rejects(validateJob(broken as unknown as IJob), (error: unknown) => isStagecraftError(error) && /containers/.test(error.message));
    const quantity = buildJob({ ...base, resources: { memory: 'lots' } });
    await assert.rejects(validateJob(quantity), (error: unknown) => isStagecraftError(error) && /memory/.test(error.message));
  });

  it('the pod layout: state on an emptyDir, the context read-only, metadata volume, privileged builder, no restarts', () => {
    const job = buildJob({ ...base, registrySecret: 'regcred' });
    const spec = job.spec?.template.spec;
    assert.equal(spec?.restartPolicy, 'Never');
    assert.equal(job.spec?.backoffLimit, 0);
    const volumes = new Map((spec?.volumes ?? []).map((v) => [v.name, v]));
    assert.deepEqual(volumes.get('state')?.emptyDir, {});
    assert.deepEqual(volumes.get('workspace')?.persistentVolumeClaim, { claimName: 'sources', readOnly: true });
    assert.equal(volumes.get('docker-config')?.secret?.secretName, 'regcred');
    const build = container(job);
    const mounts = new Map((build.volumeMounts ?? []).map((m) => [m.mountPath, m]));
    assert.equal(mounts.get(POD_PATHS.state)?.name, 'state');
    assert.equal(mounts.get(POD_PATHS.workspace)?.readOnly, true);
    assert.equal(mounts.get(POD_PATHS.dockerConfig)?.name, 'docker-config');
    assert.deepEqual(build.env, [{ name: 'STAGECRAFT_ROOT', value: POD_PATHS.state }, { name: 'DOCKER_CONFIG', value: POD_PATHS.dockerConfig }]);
    assert.equal(build.securityContext?.privileged, true);
  });

  it('the pod runs `stagecraft build` with the flags verbatim (never through the shell), the cache flags and the context path', () => {
    const hostile = ['--build-arg', 'X=$(touch /tmp/stagecraft-k8s-pwned); `id`', '--label', "a='b' \"c\" ; exit 3"];
    const job = buildJob({ ...base, buildFlags: [...base.buildFlags, ...hostile], cache: 'registry.example.com/app:buildcache' });
    const run = runPodCommand(job);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.argv.length, 1);
    const argv = run.argv[0] ?? [];
    assert.deepEqual(argv.slice(0, 4), ['--root', POD_PATHS.state, 'build', '--metadata-file']);
    assert.deepEqual(argv.slice(5), [...base.buildFlags, ...hostile,
      '--cache-from', 'type=registry,ref=registry.example.com/app:buildcache',
      '--cache-to', 'type=registry,ref=registry.example.com/app:buildcache,mode=max,ignore-error=true',
      `${POD_PATHS.workspace}/app`]);
    assert.equal(spawnSync('test', ['-e', '/tmp/stagecraft-k8s-pwned']).status, 1, 'no command substitution ran');
  });

  it('an Indexed Job: pod N builds the N-th target and writes metadata-N.json; an index without a target fails', () => {
    const job = buildJob({ ...base, targets: ['api', 'worker'], parallelism: 5 });
    assert.equal(job.spec?.completionMode, 'Indexed');
    assert.equal(job.spec?.completions, 2);
    assert.equal(job.spec?.parallelism, 2);
    for (const [index, target] of [[0, 'api'], [1, 'worker']] as const) {
      const run = runPodCommand(job, { JOB_COMPLETION_INDEX: String(index) });
      assert.equal(run.status, 0, run.stderr);
      const argv = run.argv[0] ?? [];
      assert.deepEqual(argv.slice(0, 5), ['--root', POD_PATHS.state, 'build', '--target', target]);
      assert.match(argv[6] ?? '', new RegExp(`metadata-${index}\\.json$`));
    }
    const missing = runPodCommand(job, { JOB_COMPLETION_INDEX: '7' });
    assert.equal(missing.status, 2);
    assert.deepEqual(missing.argv, []);
  });

  it('a git context: an init container clones URL at REF into the workspace; the build reads the sub-directory', () => {
    const job = buildJob({ ...base, context: { kind: 'git', url: 'https://git.example.com/app.git', ref: 'v1.2', subPath: 'svc' } });
    const run = runPodCommand(job, {}, 'context');
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.argv, [['git', 'clone', '--depth', '1', '--branch', 'v1.2', '--', 'https://git.example.com/app.git', `${POD_PATHS.workspace}/src`]]);
    assert.equal(container(job).args, undefined);
    assert.equal(container(job).command?.at(-1), `${POD_PATHS.workspace}/src/svc`);
  });

  it('bad requests are USAGE errors before anything is written', () => {
    const bad: [Partial<JobRequest>, RegExp][] = [
      [{ name: 'App_Build' }, /Job name/],
      [{ name: 'x'.repeat(53) }, /Job name/],
      [{ namespace: 'CI' }, /namespace/],
      [{ image: ' ' }, /image/],
      [{ buildFlags: ['--metadata-file', 'x'] }, /--metadata-file is set by the Job/],
      [{ buildFlags: ['--root=/x'] }, /--root is set by the Job/],
      [{ targets: ['api'], buildFlags: ['--target', 'x'] }, /--target with --targets/],
      [{ targets: ['api;rm'] }, /invalid target/],
      [{ targets: [] }, /empty/],
      [{ context: { kind: 'pvc', claim: 'c', subPath: '../etc' } }, /sub-path/],
    ];
    for (const [change, message] of bad) {
      assert.throws(() => buildJob({ ...base, ...change }), (error: unknown) => isStagecraftError(error) && error.code === 'USAGE' && message.test(error.message), JSON.stringify(change));
    }
  });
});

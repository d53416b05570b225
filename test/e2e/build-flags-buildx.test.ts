/**
 * buildx flags CI scripts pass, on real builds: `--add-host`, `--shm-size`, `--ulimit` change what RUN
 * steps see (and their cache key), `--annotation` lands in the pushed/archived manifest, `--call
 * outline|targets` prints without building, CSV-quoted `-o`/`--cache-to`/`--secret` values, and the
 * legacy `docker build` flags buildx accepts do not stop the build.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli } from '../helpers/cli.js';

describe('buildx build flags', () => {
  let env: BuildEnv;
  let dir: string;
  before(async () => {
    env = await startBuildEnv();
    dir = join(env.work, 'run-flags');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), [
      `FROM ${env.busybox}`,
      'RUN cat /etc/hosts > /hosts && df -k /dev/shm | tail -n 1 > /shm && ulimit -Sn > /nofile && ulimit -Hn >> /nofile && ulimit -Su > /nproc',
      'COPY hello.txt /',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'hello.txt'), 'hello\n');
  });
  after(async () => {
    await env.close();
  });
  const root = (): string => join(env.work, 'run-flags-root');

  it('--add-host, --shm-size and --ulimit reach RUN steps, and a step built without them is not reused', () => {
    const plainOut = join(env.work, 'plain-out');
    const plain = env.build(['-o', `type=local,dest=${plainOut}`, dir], { root: root() });
    assert.equal(plain.status, 0, plain.stderr);
    assert.doesNotMatch(readFileSync(join(plainOut, 'hosts'), 'utf8'), /db\.internal/);
    assert.equal(readFileSync(join(plainOut, 'shm'), 'utf8').trim().split(/\s+/)[1], '65536', 'the default /dev/shm is 64 MiB');

    const out = join(env.work, 'flags-out');
    const run = env.build(['--add-host', 'db.internal:10.1.2.3', '--add-host', 'Cache=fd00::7', '--shm-size', '128m', '--ulimit', 'nofile=1024:2048', '--ulimit', 'nproc=300:400', '-o', `type=local,dest=${out}`, dir], { root: root() });
    assert.equal(run.status, 0, run.stderr);
    const hosts = readFileSync(join(out, 'hosts'), 'utf8');
    assert.match(hosts, /^10\.1\.2\.3\tdb\.internal$/m);
    assert.match(hosts, /^fd00::7\tcache$/m);
    assert.match(hosts, /^127\.0\.0\.1\tlocalhost /m);
    assert.equal(readFileSync(join(out, 'shm'), 'utf8').trim().split(/\s+/)[1], '131072', '/dev/shm is 128 MiB');
    assert.equal(readFileSync(join(out, 'nofile'), 'utf8'), '1024\n2048\n');
    assert.equal(readFileSync(join(out, 'nproc'), 'utf8'), '300\n');
  });

  it('refuses a bad --add-host, --shm-size or --ulimit before any work', () => {
    for (const [flag, value, message] of [['--add-host', 'db:not-an-ip', /is not an IP address/], ['--add-host', 'gw:host-gateway', /host-gateway is not supported/], ['--shm-size', 'lots', /invalid --shm-size/], ['--ulimit', 'files=1', /unknown limit "files"/]] as const) {
      const run = runCli(['--root', root(), 'build', '--progress=rawjson', flag, value, dir]);
      assert.equal(run.status, 2, `${flag} ${value}: ${run.stderr}`);
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /vertex\.started/, 'nothing ran');
    }
  });

  it('--annotation: manifest annotations in the archived and pushed manifest, manifest-descriptor ones in index.json', () => {
    const archive = join(env.work, 'annotated.tar');
    const name = `${env.registry.host}/flags:annotated`;
    const run = env.build([
      '--annotation', 'org.opencontainers.image.title=flags app',
      '--annotation', 'manifest:org.example.team=build',
      '--annotation', 'manifest-descriptor:org.example.desc=on the descriptor',
      '-t', 'flags:annotated',
      '-o', `type=oci,dest=${archive}`, '-o', `type=registry,name=${name}`, dir,
    ], { root: root() });
    assert.equal(run.status, 0, run.stderr);
    // With the default provenance, index.json names an image index (attestation-storage.md): the image
    // manifest is its first entry, and `manifest-descriptor:` annotations are on that entry (as BuildKit).
    const index = JSON.parse(execFileSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8' })) as { manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[] };
    assert.equal(index.manifests[0]?.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.manifests[0]?.annotations?.['org.opencontainers.image.ref.name'], 'docker.io/library/flags:annotated');
    const blobPath = (digest: string): string => `blobs/sha256/${digest.slice('sha256:'.length)}`;
    const imageIndex = JSON.parse(execFileSync('tar', ['-xOf', archive, blobPath(index.manifests[0]?.digest ?? '')], { encoding: 'utf8' })) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const imageEntry = imageIndex.manifests[0];
    const archived = JSON.parse(execFileSync('tar', ['-xOf', archive, blobPath(imageEntry?.digest ?? '')], { encoding: 'utf8' })) as { annotations?: Record<string, string> };
    assert.deepEqual(archived.annotations, { 'org.example.team': 'build', 'org.opencontainers.image.title': 'flags app' });
    assert.equal(imageEntry?.annotations?.['org.example.desc'], 'on the descriptor');
    const pushedIndex = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' })) as { manifests: { digest: string }[] };
    const pushed = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name.replace(/:annotated$/, '')}@${pushedIndex.manifests[0]?.digest ?? ''}`], { encoding: 'utf8' })) as { annotations?: Record<string, string> };
    assert.deepEqual(pushed.annotations, archived.annotations);
    const refused = runCli(['--root', root(), 'build', '--annotation', 'index:a=1', dir]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /index annotations need an image index/);
  });

  it('--call targets, --call outline and --call check print without building', () => {
    const callDir = join(env.work, 'call');
    mkdirSync(callDir, { recursive: true });
    writeFileSync(join(callDir, 'Dockerfile'), `# VERSION the release\nARG VERSION=1.0\n# base the toolchain\nFROM ${env.busybox} AS base\nARG VERSION\nRUN --mount=type=secret,id=npm,required=true echo $VERSION\n# app what ships\nFROM base AS app\n`);
    const targets = runCli(['--root', root(), 'build', '--call', 'targets', callDir]);
    assert.equal(targets.status, 0, targets.stderr);
    assert.equal(targets.stdout, 'TARGET        DESCRIPTION\nbase          the toolchain\napp (default) what ships\n');
    const outline = runCli(['--root', root(), 'build', '--call', 'outline', '--build-arg', 'VERSION=2.0', callDir]);
    assert.equal(outline.status, 0, outline.stderr);
    assert.equal(outline.stdout, 'TARGET:      app\nDESCRIPTION: what ships\n\nBUILD ARG   VALUE   DESCRIPTION\nVERSION     2.0     the release\n\nSECRET   REQUIRED\nnpm      true\n\n');
    const json = runCli(['--root', root(), 'build', '--call', 'targets,format=json', callDir]);
    assert.deepEqual((JSON.parse(json.stdout) as { targets: { name: string }[] }).targets.map((t) => t.name), ['base', 'app']);
    assert.doesNotMatch(runCli(['--root', root(), 'images']).stdout, /busybox/, 'no base image was pulled');
    const check = runCli(['--root', root(), 'build', '--call', 'check', callDir]);
    assert.equal(check.status, 1, check.stderr);
    assert.match(check.stdout, /^Check complete, \d+ warnings? ha(s|ve) been found!/);
    assert.match(check.stdout, /WARNING: BaseImageNotPinned/);
    assert.doesNotMatch(runCli(['--root', root(), 'images']).stdout, /busybox/, 'no base image was pulled by --call check');
  });

  it('CSV-quoted values: -o with a comma in dest, --secret with a comma in src, --cache-to with a comma in dest', () => {
    const secretDir = join(env.work, 'secret-ctx');
    mkdirSync(secretDir, { recursive: true });
    writeFileSync(join(secretDir, 'Dockerfile'), `FROM ${env.busybox}\nRUN --mount=type=secret,id=tok,required=true cat /run/secrets/tok > /tok-copy\n`);
    const secretFile = join(env.work, 'a,b.secret');
    writeFileSync(secretFile, 'the secret\n');
    const out = join(env.work, 'out,with,commas');
    const cache = join(env.work, 'cache,dir');
    const run = env.build(['--secret', `id=tok,"src=${secretFile}"`, '-o', `type=local,"dest=${out}"`, '--cache-to', `type=local,"dest=${cache}"`, secretDir], { root: root() });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'tok-copy'), 'utf8'), 'the secret\n');
    assert.ok(readFileSync(join(cache, 'index.json'), 'utf8').length > 0, 'the cache went to the quoted directory');
    const bad = runCli(['--root', root(), 'build', '-o', `type=local,dest="${out}"`, secretDir]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--output .*a quote inside an unquoted field/);
  });

  it('--memory, --memory-swap, --cpu-shares, --cpu-period/--cpu-quota, --cpuset-cpus and --cgroup-parent become the RUN step\'s cgroup limits', () => {
    const limitsDir = join(env.work, 'limits');
    mkdirSync(limitsDir, { recursive: true });
    writeFileSync(join(limitsDir, 'Dockerfile'), [
      `FROM ${env.busybox}`,
      'RUN cat /proc/self/cgroup > /cgroup; (cat /sys/fs/cgroup/memory/memory.limit_in_bytes || cat /sys/fs/cgroup/memory.max) > /memory 2>/dev/null; (cat /sys/fs/cgroup/cpu/cpu.shares || cat /sys/fs/cgroup/cpu,cpuacct/cpu.shares || cat /sys/fs/cgroup/cpu.weight) > /cpu 2>/dev/null; (cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us || cat /sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us || cat /sys/fs/cgroup/cpu.max) > /quota 2>/dev/null; (cat /sys/fs/cgroup/cpuset/cpuset.cpus || cat /sys/fs/cgroup/cpuset.cpus) > /cpus 2>/dev/null; true',
      '',
    ].join('\n'));
    const parent = `stagecraft-e2e-${process.pid}`;
    const out = join(env.work, 'limits-out');
    try {
      const run = env.build(['-m', '64m', '--memory-swap', '-1', '-c', '512', '--cpu-period', '100000', '--cpu-quota', '50000', '--cpuset-cpus', '0', '--cgroup-parent', parent, '-o', `type=local,dest=${out}`, limitsDir], { root: root() });
      assert.equal(run.status, 0, run.stderr);
      assert.match(readFileSync(join(out, 'cgroup'), 'utf8'), new RegExp(`:/${parent}/stagecraft/stagecraft-[0-9a-f]+$`, 'm'));
      assert.equal(readFileSync(join(out, 'memory'), 'utf8').trim(), '67108864');
      assert.ok(['512', '20'].includes(readFileSync(join(out, 'cpu'), 'utf8').trim()), 'cpu shares 512 (cgroup v1) or its cgroup v2 weight');
      assert.match(readFileSync(join(out, 'quota'), 'utf8').trim(), /^50000( 100000)?$/);
      assert.equal(readFileSync(join(out, 'cpus'), 'utf8').trim(), '0');
    } finally {
      // runc removes the step's cgroup; the parents it made are ours to remove.
      for (const hierarchy of ['', ...readdirSync('/sys/fs/cgroup')]) {
        for (const dir of [join('/sys/fs/cgroup', hierarchy, parent, 'stagecraft'), join('/sys/fs/cgroup', hierarchy, parent)]) {
          try {
            rmdirSync(dir);
          } catch {
            // not made in this hierarchy
          }
        }
      }
    }
    for (const [flags, message] of [[['--memory-swap', '1g'], /--memory-swap needs --memory/], [['-m', '1g', '--memory-swap', '512m'], /is below --memory/], [['--cpu-shares', '0'], /must be a whole number above 0/], [['--cpuset-cpus', 'all'], /invalid --cpuset-cpus/], [['--cgroup-parent', '../escape'], /invalid --cgroup-parent/]] as const) {
      const refused = runCli(['--root', root(), 'build', ...flags, limitsDir]);
      assert.equal(refused.status, 2, `${flags.join(' ')}: ${refused.stderr}`);
      assert.match(refused.stderr, message);
    }
  });

  it('RUN --security=insecure: refused without --allow security.insecure naming the line; with it every capability and no seccomp filter', () => {
    const insecureDir = join(env.work, 'insecure');
    mkdirSync(insecureDir, { recursive: true });
    writeFileSync(join(insecureDir, 'Dockerfile'), `FROM ${env.busybox}\nRUN grep -E '^(CapEff|Seccomp):' /proc/self/status > /sandbox\nRUN --security=insecure grep -E '^(CapEff|Seccomp):' /proc/self/status > /insecure\n`);
    const refused = runCli(['--root', root(), 'build', '--progress=rawjson', insecureDir]);
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /RUN --security=insecure: security\.insecure is not allowed/);
    assert.match(refused.stderr, /Dockerfile:3/, 'the error names the line');
    assert.doesNotMatch(refused.stderr, /vertex\.started/, 'refused before any step');
    const out = join(env.work, 'insecure-out');
    const run = env.build(['--allow', 'security.insecure', '-o', `type=local,dest=${out}`, insecureDir], { root: root() });
    if (/unable to apply caps/.test(run.stderr)) return; // a confined CI container cannot grant them all
    assert.equal(run.status, 0, run.stderr);
    const field = (file: string, name: string): string => new RegExp(`^${name}:\\s+(\\S+)$`, 'm').exec(readFileSync(join(out, file), 'utf8'))?.[1] ?? '';
    const bounding = BigInt(`0x${/^CapBnd:\s+([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'}`) & ((1n << 41n) - 1n);
    assert.equal(BigInt(`0x${field('insecure', 'CapEff')}`), bounding, 'every capability this process can pass on');
    assert.equal(field('insecure', 'Seccomp'), '0', 'no seccomp filter');
    assert.equal(field('sandbox', 'Seccomp'), '2', 'a sandboxed step is filtered');
    assert.ok(BigInt(`0x${field('sandbox', 'CapEff')}`) < bounding, 'a sandboxed step has Docker\'s default set');
  });

  it('legacy docker build flags do not stop the build; --squash, --isolation, --security-opt warn as buildx', () => {
    const cases: readonly (readonly [readonly string[], RegExp | undefined])[] = [
      [['--rm'], undefined], [['--rm=false'], undefined], [['--force-rm'], undefined], [['--compress'], undefined],
      [['--squash'], /squash is removed with BuildKit/], [['--isolation', 'process'], /isolation flag is deprecated/],
      [['--security-opt', 'seccomp=unconfined'], /security-opt flag is deprecated/],
    ];
    for (const [flags, warning] of cases) {
      const run = runCli(['--root', root(), 'build', '--progress=plain', ...flags, '-t', 'flags:legacy', dir]);
      assert.equal(run.status, 0, `${flags.join(' ')}: ${run.stderr}`);
      // build-check warnings (`WARNING: Dockerfile:1: Rule: …`) are not the flags' business
      const flagWarnings = run.stderr.split('\n').filter((l) => l.startsWith('WARNING:') && !/^WARNING: \S+:\d+: [A-Z][A-Za-z]+: /.test(l));
      if (warning === undefined) assert.deepEqual(flagWarnings, [], flags.join(' '));
      else assert.match(run.stderr, warning, flags.join(' '));
    }
  });
});

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { CLI_PATH, runCli } from '../helpers/cli.js';

describe('build flags with their buildx meaning', () => {
  let env: BuildEnv;
  let dir: string;
  before(async () => {
    env = await startBuildEnv();
    dir = join(env.work, 'flags');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${env.busybox}\nARG FROM_ENV=unset\nRUN echo "$FROM_ENV" > /from-env && ls /sys/class/net > /net\nCOPY hello.txt /\n`);
    writeFileSync(join(dir, 'hello.txt'), 'hello\n');
  });
  after(async () => {
    await env.close();
  });
  const root = (): string => join(env.work, 'flags-root');
  const inspectConfig = (name: string): { config: { Labels?: Record<string, string> } } => {
    const out = JSON.parse(runCli(['--root', root(), 'inspect', '--json', name]).stdout) as { config: { value: { config: { Labels?: Record<string, string> } } } };
    return out.config.value;
  };

  it('--build-arg NAME takes the value from the environment; --network none leaves only lo; -o type=local', () => {
    const out = join(env.work, 'flags-out');
    const run = env.build(['--build-arg', 'FROM_ENV', '--network', 'none', '-o', `type=local,dest=${out}`, dir], { root: root(), env: { ...process.env, FROM_ENV: 'from the environment' } });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'from-env'), 'utf8'), 'from the environment\n');
    assert.equal(readFileSync(join(out, 'net'), 'utf8'), 'lo\n');
  });

  it('--label adds image labels; -q prints only the image ID', () => {
    const run = runCli(['--root', root(), 'build', '-q', '--label', 'org.example.team=build', '-t', 'flags:label', dir]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /^sha256:[a-f0-9]{64}\n$/);
    assert.equal(inspectConfig('flags:label').config.Labels?.['org.example.team'], 'build');
  });

  it('-f - reads the Dockerfile from stdin; - as the context reads a tar of it from stdin', () => {
    const viaStdin = runCli(['--root', root(), 'build', '-q', '-f', '-', dir], { input: `FROM ${env.busybox}\nCOPY hello.txt /stdin-dockerfile\n` });
    assert.equal(viaStdin.status, 0, viaStdin.stderr);
    const tar = execFileSync('tar', ['-C', dir, '-cf', '-', '.']);
    const out = join(env.work, 'stdin-out');
    const fromTar = spawnSync(process.execPath, [CLI_PATH, '--root', root(), 'build', '-q', '-o', `type=local,dest=${out}`, '-'], { input: tar });
    assert.equal(fromTar.status, 0, fromTar.stderr.toString());
    assert.equal(readFileSync(join(out, 'hello.txt'), 'utf8'), 'hello\n');
  });

  it('-o type=docker and type=tar write archives the usual tools read', () => {
    const docker = join(env.work, 'image-docker.tar');
    const tarOut = join(env.work, 'rootfs.tar');
    const run = env.build(['-o', `type=docker,dest=${docker},name=flags:docker`, '-o', `type=tar,dest=${tarOut}`, dir], { root: root() });
    assert.equal(run.status, 0, run.stderr);
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', `docker-archive:${docker}`], { encoding: 'utf8' })) as { Layers: string[] };
    assert.ok(inspected.Layers.length >= 2);
    const listing = execFileSync('tar', ['-tf', tarOut], { encoding: 'utf8' });
    assert.match(listing, /(^|\n)(\.\/)?hello\.txt\n/);
    assert.match(listing, /(^|\n)(\.\/)?bin\/busybox\n/);
  });

  it('compression=zstd makes the new layers zstd; compression=uncompressed leaves them plain tar', async () => {
    const archive = join(env.work, 'zstd.tar');
    const run = env.build(['--no-cache', '-o', `type=oci,dest=${archive},compression=zstd,compression-level=5`, dir], { root: await env.newRoot() });
    assert.equal(run.status, 0, run.stderr);
    // The archive's index.json names an image index (the default provenance): its first entry is the image.
    const layerTypes = (file: string): string[] => {
      const top = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${file}`], { encoding: 'utf8' })) as { manifests: { digest: string }[] };
      const image = JSON.parse(execFileSync('tar', ['-xOf', file, `blobs/sha256/${(top.manifests[0]?.digest ?? '').slice(7)}`], { encoding: 'utf8' })) as { layers: { mediaType: string }[] };
      return image.layers.map((l) => l.mediaType);
    };
    const types = layerTypes(archive);
    assert.equal(types[0], 'application/vnd.oci.image.layer.v1.tar+gzip', 'the base layer stays as pulled');
    assert.ok(types.slice(1).every((t) => t === 'application/vnd.oci.image.layer.v1.tar+zstd'), types.join());
    const plainArchive = join(env.work, 'plain.tar');
    const plain = env.build(['-o', `type=oci,dest=${plainArchive},compression=uncompressed`, dir], { root: root() });
    assert.equal(plain.status, 0, plain.stderr);
    const plainTypes = layerTypes(plainArchive);
    assert.ok(plainTypes.slice(1).every((t) => t === 'application/vnd.oci.image.layer.v1.tar'), plainTypes.join());
    const mixed = runCli(['--root', root(), 'build', '-o', `type=oci,dest=${archive},compression=zstd`, '-o', `type=docker,dest=${plainArchive},compression=gzip`, dir]);
    assert.equal(mixed.status, 2, 'two outputs asking for different compressions are refused');
  });

  it('a local-only image keeps plain tar layers; push (twice) sends them gzipped, with the same diffIDs', () => {
    const pushRoot = join(env.work, 'push-root');
    const local = env.build(['-t', 'flags:local', dir], { root: pushRoot });
    assert.equal(local.status, 0, local.stderr);
    const inspected = JSON.parse(runCli(['--root', pushRoot, 'inspect', '--json', 'flags:local']).stdout) as { layers: { mediaType: string }[]; config: { value: { rootfs: { diff_ids: string[] } } } };
    const localTypes = inspected.layers.map((l) => l.mediaType);
    assert.ok(localTypes.slice(1).every((t) => t === 'application/vnd.oci.image.layer.v1.tar'), localTypes.join());
    const name = `${env.registry.host}/flags:pushed`;
    for (let i = 0; i < 2; i++) {
      const pushed = runCli(['--root', pushRoot, 'push', 'flags:local', name]);
      assert.equal(pushed.status, 0, pushed.stderr);
      // The first push uploads every layer; the second finds them in the repository.
      assert.match(pushed.stderr, i === 0 ? /: layer done, / : /: layer already exists/);
    }
    // The tag names the index; its image manifest lists the gzipped layers, and the attestation
    // manifest was re-made for that manifest (its subject is the pushed digest, not the local one).
    const pushedIndex = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' })) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const imageDigest = pushedIndex.manifests[0]?.digest ?? '';
    assert.equal(pushedIndex.manifests[1]?.annotations?.['vnd.docker.reference.digest'], imageDigest);
    const attestation = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${env.registry.host}/flags@${pushedIndex.manifests[1]?.digest ?? ''}`], { encoding: 'utf8' })) as { subject: { digest: string } };
    assert.equal(attestation.subject.digest, imageDigest);
    const remote = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${env.registry.host}/flags@${imageDigest}`], { encoding: 'utf8' })) as { layers: { mediaType: string }[] };
    assert.ok(remote.layers.every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip'), remote.layers.map((l) => l.mediaType).join());
    const remoteConfig = JSON.parse(execFileSync('skopeo', ['inspect', '--config', '--tls-verify=false', `docker://${name}`], { encoding: 'utf8' })) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(remoteConfig.rootfs.diff_ids, inspected.config.value.rootfs.diff_ids);
    // Pulled into another store: every layer is unpacked and checked against its diffID.
    const pulled = runCli(['--root', join(env.work, 'pull-root'), 'pull', name]);
    assert.equal(pulled.status, 0, pulled.stderr);
  });

  it('-f PATH, --target and -o type=image,name= (stored under that name)', () => {
    const other = join(env.work, 'Other.Dockerfile');
    writeFileSync(other, `FROM ${env.busybox} AS first\nRUN echo first > /stage\nFROM first AS second\nRUN echo second > /stage\n`);
    const out = join(env.work, 'target-out');
    const run = env.build(['-f', other, '--target', 'first', '-o', 'type=image,name=flags:target', '-o', `type=local,dest=${out}`, dir], { root: root() });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(readFileSync(join(out, 'stage'), 'utf8'), 'first\n', 'only the target stage was built');
    assert.ok(!run.events.some((e) => e.type === 'vertex.started' && /second/.test(e.name)));
    assert.match(runCli(['--root', root(), 'images']).stdout, /flags +target/);
  });

  it('-o type=registry pushes the named image', () => {
    const name = `${env.registry.host}/flags:registry`;
    const run = env.build(['-o', `type=registry,name=${name}`, dir], { root: root() });
    assert.equal(run.status, 0, run.stderr);
    execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${name}`]);
  });

  it('--platform accepts this machine\'s platform, spelled as containerd normalizes it', () => {
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    assert.equal(runCli(['--root', root(), 'build', '-q', '--platform', `linux/${arch}`, dir]).status, 0);
    const alias = runCli(['--root', root(), 'build', '-q', '--platform', arch === 'amd64' ? 'linux/x86_64' : 'linux/aarch64/v8', dir]);
    assert.equal(alias.status, 0, `the same platform spelled as containerd normalizes it: ${alias.stderr}`);
  });

  it('--platform refuses a malformed value with exit 2 and a hint, on build and plan; plan refuses a list', () => {
    for (const command of ['build', 'plan']) {
      const bad = runCli(['--root', root(), command, '--platform', 'linux', dir]);
      assert.equal(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, /invalid --platform "linux"/);
      assert.match(bad.stderr, /platforms look like linux\/amd64 or linux\/arm64\/v8/);
      const spaced = runCli(['--root', root(), command, '--platform', 'linux/amd 64', dir]);
      assert.equal(spaced.status, 2, spaced.stderr);
      assert.match(spaced.stderr, /invalid --platform "linux\/amd 64"/);
    }
    const list = runCli(['--root', root(), 'plan', '--platform', 'linux/amd64,linux/arm64', dir]);
    assert.equal(list.status, 2, list.stderr);
    assert.match(list.stderr, /--platform linux\/amd64,linux\/arm64: one platform is expected here/);
    const empty = runCli(['--root', root(), 'build', '--platform', 'linux/amd64,', dir]);
    assert.equal(empty.status, 2, empty.stderr);
    assert.match(empty.stderr, /an empty platform in the list/);
  });

  it('--ssh requires an agent socket and mounts it for RUN --mount=type=ssh', () => {
    const sshDir = join(env.work, 'ssh');
    mkdirSync(sshDir, { recursive: true });
    writeFileSync(join(sshDir, 'Dockerfile'), `FROM ${env.busybox}\nRUN --mount=type=ssh,required test -S /run/buildkit/ssh_agent.0 && echo ok\n`);
    const missing = runCli(['--root', root(), 'build', '-q', sshDir], { env: { ...process.env, SSH_AUTH_SOCK: '' } });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /ssh agent default is required/);
    const started = execFileSync('ssh-agent', ['-s'], { encoding: 'utf8' });
    const sock = /SSH_AUTH_SOCK=([^;]+);/.exec(started)?.[1] ?? '';
    const pid = /SSH_AGENT_PID=(\d+);/.exec(started)?.[1] ?? '';
    try {
      const run = runCli(['--root', root(), 'build', '-q', '--ssh', `default=${sock}`, sshDir]);
      assert.equal(run.status, 0, run.stderr);
    } finally {
      if (pid !== '') process.kill(Number(pid));
    }
  });
});

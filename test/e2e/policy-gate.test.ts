/**
 * The policy gate end to end (built CLI, real runc, a real docker-registry): a failing policy stops
 * `--push` before anything leaves the machine (nothing in the registry's catalog, nothing named in the
 * store), prints every rule with its evidence and exits 11 (POLICY_DENIED); a passing policy pushes;
 * a malformed policy fails before the build starts; `policy check` judges the pushed image from an
 * empty state root.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli, type CliRun } from '../helpers/cli.js';

// A dpkg database naming gcc: the dpkg cataloger finds it in the final stage.
const DPKG_STATUS = `Package: gcc
Status: install ok installed
Priority: optional
Section: devel
Installed-Size: 50
Maintainer: Debian GCC Maintainers <debian-gcc@lists.debian.org>
Architecture: amd64
Source: gcc-defaults (1.203)
Version: 4:12.2.0-3
Description: GNU C compiler

`;

const FAILING = `rules:
  maxSize: 1kB
  forbidRootUser: true
  forbidPackages: [gcc*, "g++*", apt]
  requireSbom: true
cel:
  - name: has-source-label
    expression: "'org.opencontainers.image.source' in image.labels"
`;

const PASSING = `# the same image passes a looser policy
rules:
  maxSize: 50MB
  forbidPackages: [clang, make]
  requireProvenance: true
  allowedBases: ["127.0.0.1:*/busybox"]
cel:
  - name: few-layers
    expression: image.layers.size() <= 4
`;

function status<T extends CliRun>(run: T, expected: number, what: string): T {
  assert.equal(run.status, expected, `${what}: exit ${String(run.status)}\n${run.stdout}\n${run.stderr}`);
  return run;
}

async function registryTags(host: string, repo: string): Promise<{ catalog: string[]; tags: string[] }> {
  const catalog = (await (await fetch(`http://${host}/v2/_catalog`)).json()) as { repositories?: string[] };
  const tagsResponse = await fetch(`http://${host}/v2/${repo}/tags/list`);
  const tags = tagsResponse.ok ? ((await tagsResponse.json()) as { tags?: string[] | null }).tags ?? [] : [];
  return { catalog: catalog.repositories ?? [], tags };
}

describe('policy gate (--policy) before export and push', () => {
  let env: BuildEnv;
  let context: string;
  before(async () => {
    env = await startBuildEnv();
    context = join(env.work, 'ctx');
    await mkdir(context, { recursive: true });
    await writeFile(join(context, 'status'), DPKG_STATUS);
    await writeFile(join(context, 'Dockerfile'), `FROM ${env.busybox}\nCOPY status /var/lib/dpkg/status\nRUN echo built > /built\n`);
    await writeFile(join(env.work, 'failing.yaml'), FAILING);
    await writeFile(join(env.work, 'passing.yaml'), PASSING);
  });
  after(async () => env.close());

  it('a failing policy stops --push: exit 11, every rule with its evidence, nothing pushed or named', async () => {
    const image = `${env.registry.host}/gate/app:1`;
    const run = status(env.build(['--sbom=true', '--policy', join(env.work, 'failing.yaml'), '--push', '-t', image, context]), 11, 'build with a failing policy');
    assert.match(run.stderr, /failed the policy gate; nothing was exported or pushed/);
    assert.match(run.stderr, /FAIL {2}maxSize\n\s+size [\d.]+ kB > 1 kB/);
    assert.match(run.stderr, /FAIL {2}forbidRootUser\n\s+runs as root: the image sets no USER/);
    assert.match(run.stderr, /FAIL {2}forbidPackages\n\s+gcc 4:12\.2\.0-3 \(deb\) found in final stage: \/var\/lib\/dpkg\/status/);
    assert.match(run.stderr, /pass {2}requireSbom\n\s+an SBOM attestation is attached/);
    assert.match(run.stderr, /FAIL {2}cel:has-source-label/);
    const failed = run.events.find((e) => e.type === 'build.failed');
    assert.ok(failed !== undefined && failed.type === 'build.failed' && failed.code === 'POLICY_DENIED', JSON.stringify(failed));
    const { catalog, tags } = await registryTags(env.registry.host, 'gate/app');
    assert.ok(!catalog.includes('gate/app'), `the registry has gate/app: ${catalog.join(', ')}`);
    assert.deepEqual(tags, []);
    const images = status(runCli(['--root', join(env.work, 'root'), 'images']), 0, 'images');
    assert.doesNotMatch(images.stdout, /gate\/app/);
  });

  it('a passing policy pushes, and prints its verdict', async () => {
    const image = `${env.registry.host}/gate/ok:1`;
    const run = status(runCli(['--root', join(env.work, 'root'), 'build', '--progress=plain', '--provenance=mode=max', '--policy', join(env.work, 'passing.yaml'), '--push', '-t', image, context]), 0, 'build with a passing policy');
    assert.match(run.stderr, /policy .*passing\.yaml: PASS \(5 passed, 0 failed\)/);
    assert.match(run.stderr, /pass {2}allowedBases\n\s+base 127\.0\.0\.1:\d+\/busybox:latest \(sha256:[0-9a-f]{64}\) allowed by 127\.0\.0\.1:\*\/busybox/);
    const { tags } = await registryTags(env.registry.host, 'gate/ok');
    assert.deepEqual(tags, ['1']);
  });

  it('policy check judges the pushed image from an empty state root', async () => {
    const image = `${env.registry.host}/gate/ok:1`;
    const root = await env.newRoot();
    const pass = status(runCli(['--root', root, 'policy', 'check', image, '--policy', join(env.work, 'passing.yaml')]), 0, 'policy check (passing)');
    assert.match(pass.stdout, /PASS \(5 passed, 0 failed\)/);
    assert.match(pass.stdout, /allowed by 127\.0\.0\.1:\*\/busybox/, 'the bases come from the pushed provenance');
    const fail = status(runCli(['--root', root, 'policy', 'check', image, '--policy', join(env.work, 'failing.yaml'), '--format', 'json']), 11, 'policy check (failing)');
    const verdict = JSON.parse(fail.stdout) as { passed: boolean; results: { name: string; passed: boolean; evidence: string[] }[] };
    assert.equal(verdict.passed, false);
    const byName = new Map(verdict.results.map((r) => [r.name, r]));
    assert.equal(byName.get('forbidPackages')?.passed, false);
    assert.match(byName.get('forbidPackages')?.evidence.join('\n') ?? '', /gcc 4:12\.2\.0-3/);
    assert.equal(byName.get('requireSbom')?.passed, false, 'the image was pushed without an SBOM');
  });

  it('a malformed policy fails before the build starts, with its line and column', async () => {
    await writeFile(join(env.work, 'typo.yaml'), 'rules:\n  maxSize: 1GB\n  forbidRootUsr: true\n');
    const run = status(env.build(['--policy', join(env.work, 'typo.yaml'), context]), 2, 'build with a malformed policy');
    assert.match(run.stderr, /typo\.yaml:3:3: unknown rule "forbidRootUsr"/);
    assert.match(run.stderr, /did you mean "forbidRootUser"/);
    assert.equal(run.events.some((e) => e.type === 'build.started'), false, 'the build must not start');
    await writeFile(join(env.work, 'cel.yaml'), 'cel:\n  - name: bad\n    expression: "image.size >"\n');
    const cel = status(runCli(['--root', join(env.work, 'root'), 'policy', 'check', 'whatever:1', '--policy', join(env.work, 'cel.yaml')]), 2, 'policy check with bad CEL');
    assert.match(cel.stderr, /cel\.yaml:3:\d+: CEL rule "bad"/);
    const scan = status(env.build(['--scan', 'secret', context]), 2, 'build --scan typo');
    assert.match(scan.stderr, /unknown scan "secret"[\s\S]*did you mean "secrets"/);
  });
});

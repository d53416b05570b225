/**
 * Signing end to end with the built CLI and a real docker-registry (no referrers API, so the
 * `sha256-<hex>` fallback tag carries the signatures): keygen; build with SBOM + provenance; sign in the
 * local store; push; verify --key --attestations from a second, empty state root; a wrong key fails
 * with SIGNATURE_INVALID (exit 12); skopeo reads the fallback index; `build --sign ... --push` and
 * `sign` of an image that is only in the registry; a wrong password fails before the build starts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';
import { runCli, type CliRun } from '../helpers/cli.js';

const PASSWORD = 'e2e password';
const ENV = { ...process.env, STAGECRAFT_PASSWORD: PASSWORD };

function ok(run: CliRun, what: string): CliRun {
  assert.equal(run.status, 0, `${what} failed (${String(run.status)}):\n${run.stdout}\n${run.stderr}`);
  return run;
}

function skopeoRaw(ref: string): { mediaType?: string; manifests?: { digest: string; artifactType?: string; annotations?: Record<string, string> }[]; layers?: { mediaType: string; annotations?: Record<string, string> }[] } {
  return JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' })) as ReturnType<typeof skopeoRaw>;
}

describe('sign and verify (cosign-compatible, docker-registry fallback tags)', () => {
  let env: BuildEnv;
  let context: string;
  let key: string;
  let pub: string;
  let otherPub: string;
  before(async () => {
    env = await startBuildEnv();
    context = join(env.work, 'ctx');
    execFileSync('mkdir', ['-p', context]);
    await writeFile(join(context, 'Dockerfile'), `FROM ${env.busybox}\nRUN echo signed > /hello\n`);
    key = join(env.work, 'cosign.key');
    pub = join(env.work, 'cosign.pub');
    ok(runCli(['keygen', '--output-key-prefix', join(env.work, 'cosign')], { env: ENV }), 'keygen');
    ok(runCli(['keygen', '--output-key-prefix', join(env.work, 'other')], { env: ENV }), 'keygen other');
    otherPub = join(env.work, 'other.pub');
  });
  after(async () => env.close());

  it('keygen writes cosign-format files and refuses to overwrite them', async () => {
    const { readFile } = await import('node:fs/promises');
    assert.match(await readFile(key, 'utf8'), /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----/);
    assert.match(await readFile(pub, 'utf8'), /^-----BEGIN PUBLIC KEY-----/);
    const again = runCli(['keygen', '--output-key-prefix', join(env.work, 'cosign')], { env: ENV });
    assert.equal(again.status, 2);
    assert.match(again.stderr, /cosign\.key already exists/);
    const noPassword = runCli(['keygen', '--output-key-prefix', join(env.work, 'nopw')], { env: { ...process.env, STAGECRAFT_PASSWORD: undefined, COSIGN_PASSWORD: undefined } });
    assert.equal(noPassword.status, 2);
    assert.match(noPassword.stderr, /STAGECRAFT_PASSWORD/);
  });

  it('keygen asks for the password on a terminal without echoing it', async () => {
    const { spawn } = await import('node:child_process');
    const { CLI_PATH } = await import('../helpers/cli.js');
    const prefix = join(env.work, 'tty');
    const typed = 'typed-on-a-tty';
    // script(1) gives the CLI a pseudo-terminal; each password is typed once its prompt is shown.
    const child = spawn('script', ['-qec', `${process.execPath} ${CLI_PATH} keygen --output-key-prefix ${prefix}`, '/dev/null'], {
      env: { ...process.env, STAGECRAFT_PASSWORD: undefined, COSIGN_PASSWORD: undefined },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let output = '';
    let prompts = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const seen = (output.match(/Enter password/g) ?? []).length;
      for (; prompts < seen; prompts++) child.stdin.write(`${typed}\r`);
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    child.stdin.end();
    assert.equal(status, 0, output);
    assert.match(output, /Private key written/);
    assert.doesNotMatch(output, new RegExp(typed), 'the password was echoed');
    const { loadSigningKey } = await import('../../src/attest/index.js');
    assert.equal((await loadSigningKey(`${prefix}.key`, () => Promise.resolve(typed))).algorithm, 'ecdsa-p256');
  });

  it('signs a local image, pushes it with its signatures, verifies from an empty state root', async () => {
    const image = `${env.registry.host}/signed/app:1`;
    ok(env.build(['--sbom=true', '-t', image, context]), 'build');
    const root = join(env.work, 'root');
    ok(runCli(['--root', root, 'sign', '--key', key, image], { env: ENV }), 'sign');
    ok(runCli(['--root', root, 'verify', '--key', pub, '--attestations', image]), 'local verify');
    // Signature names are not images.
    assert.doesNotMatch(ok(runCli(['--root', root, 'images']), 'images').stdout, /sha256-/);
    ok(runCli(['--root', root, 'push', image]), 'push');

    const empty = await env.newRoot();
    const verified = ok(runCli(['--root', empty, 'verify', '--key', pub, '--attestations', '--json', image]), 'remote verify');
    const result = JSON.parse(verified.stdout) as { subject: string; signatures: unknown[]; attestations: { predicateType: string }[] };
    assert.equal(result.signatures.length, 1);
    assert.deepEqual(result.attestations.map((a) => a.predicateType).sort(), ['https://slsa.dev/provenance/v1', 'https://spdx.dev/Document']);

    // The fallback tag is an OCI index of cosign bundle referrers about the manifest.
    const fallback = skopeoRaw(`${env.registry.host}/signed/app:sha256-${result.subject.slice(7)}`);
    assert.equal(fallback.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(fallback.manifests?.length, 3);
    for (const m of fallback.manifests ?? []) {
      assert.equal(m.artifactType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
      assert.equal(m.annotations?.['dev.sigstore.bundle.content'], 'dsse-envelope');
    }

    // Removing the image's last name removes its signature names too.
    const removed = ok(runCli(['--root', root, 'rmi', image]), 'rmi');
    assert.match(removed.stdout, new RegExp(`signed/app:sha256-${result.subject.slice(7)}`));

    const wrong = runCli(['--root', empty, 'verify', '--key', otherPub, image]);
    assert.equal(wrong.status, 12, wrong.stderr);
    assert.match(wrong.stderr, /does not verify with .*other\.pub/);
  });

  it('build --sign key=…,legacy=true --push signs in the build; a wrong password fails before it', async () => {
    const image = `${env.registry.host}/signed/built:1`;
    const bad = env.build(['--sign', `key=${key}`, '--push', '-t', image, context], { env: { ...process.env, STAGECRAFT_PASSWORD: 'nope' } });
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /wrong password/);
    assert.equal(bad.events.filter((e) => e.type === 'build.started').length, 0, 'the build must not start');
    const badFlag = env.build(['--sign', `kee=${key}`, '-t', image, context]);
    assert.equal(badFlag.status, 2);
    assert.match(badFlag.stderr, /unknown key "kee"/);

    ok(env.build(['--sign', `key=${key},legacy=true`, '--push', '-t', image, context], { env: ENV }), 'build --sign --push');
    const empty = await env.newRoot();
    const verified = JSON.parse(ok(runCli(['--root', empty, 'verify', '--key', pub, '--attestations', '--json', image]), 'verify built').stdout) as { subject: string };
    const legacy = skopeoRaw(`${env.registry.host}/signed/built:sha256-${verified.subject.slice(7)}.sig`);
    assert.equal(legacy.layers?.[0]?.mediaType, 'application/vnd.dev.cosign.simplesigning.v1+json');
    assert.ok(legacy.layers?.[0]?.annotations?.['dev.cosignproject.cosign/signature']);
  });

  it('signs an image that is only in the registry, merging into its fallback index', async () => {
    const image = `${env.registry.host}/signed/remote:1`;
    ok(env.build(['--push', '-t', image, context]), 'build --push');
    const empty = await env.newRoot();
    const unsigned = runCli(['--root', empty, 'verify', '--key', pub, image]);
    assert.equal(unsigned.status, 12);
    assert.match(unsigned.stderr, /no signature found/);
    ok(runCli(['--root', empty, 'sign', '--key', key, image], { env: ENV }), 'remote sign');
    ok(runCli(['--root', empty, 'sign', '--key', join(env.work, 'other.key'), image], { env: ENV }), 'remote sign, second signer');
    const verified = JSON.parse(ok(runCli(['--root', empty, 'verify', '--key', pub, '--attestations', '--json', image]), 'verify remote').stdout) as { subject: string };
    ok(runCli(['--root', empty, 'verify', '--key', otherPub, image]), 'verify second signer');
    // Both signers' image signatures (plus their provenance signatures) stay in one fallback index.
    const fallback = skopeoRaw(`${env.registry.host}/signed/remote:sha256-${verified.subject.slice(7)}`);
    assert.equal(fallback.manifests?.length, 4);
  });
});

/**
 * Provenance end to end: the built CLI builds, from a git work tree, a Dockerfile with a base image
 * from the local docker-registry, a build arg, an ADD <url> served by this process and a RUN with a
 * secret, in mode=min and mode=max. The attestation is read back from the store (the index the
 * metadata file names → attestation manifest → in-toto statement), and every file the build left in
 * the state root (blobs decompressed, the metadata database) is searched for the secret's value.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, lstatSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { startBuildEnv, type BuildEnv } from '../helpers/build-env.js';

type Json = Record<string, unknown>;
const SECRET = `prov-secret-${randomBytes(12).toString('hex')}`;
const ARG_VALUE = `arg-value-${randomBytes(6).toString('hex')}`;
const FILE = Buffer.from(`downloaded ${randomBytes(8).toString('hex')}\n`);

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'init.defaultBranch=main', ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_AUTHOR_NAME: 'a', GIT_AUTHOR_EMAIL: 'a@example.com', GIT_COMMITTER_NAME: 'c', GIT_COMMITTER_EMAIL: 'c@example.com', GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  }).trim();
}

function blob(root: string, digest: string): Buffer {
  return readFileSync(join(root, 'content/blobs/sha256', digest.replace(/^sha256:/u, '')));
}

/** The provenance statement of the image the metadata file names (the index holding it and its attestation manifest). */
function provenanceOf(root: string, metadataFile: string): Json {
  const metadata = JSON.parse(readFileSync(metadataFile, 'utf8')) as Json;
  const index = JSON.parse(blob(root, String(metadata['containerimage.digest'])).toString()) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
  const attestation = index.manifests.find((m) => m.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest');
  assert.ok(attestation, `no attestation manifest in ${JSON.stringify(index)}`);
  const manifest = JSON.parse(blob(root, attestation.digest).toString()) as { layers: { digest: string; annotations?: Record<string, string> }[] };
  const layer = manifest.layers.find((l) => l.annotations?.['in-toto.io/predicate-type']?.startsWith('https://slsa.dev/provenance/') === true);
  assert.ok(layer, 'no provenance layer');
  return JSON.parse(blob(root, layer.digest).toString()) as Json;
}

function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) current = (current as Json | undefined)?.[key];
  return current;
}

/** Every regular file under `dir` (gzip blobs also decompressed) that contains `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  const bytes = Buffer.from(needle);
  const walk = (path: string): void => {
    const info = lstatSync(path);
    if (info.isDirectory()) {
      for (const name of readdirSync(path)) walk(join(path, name));
      return;
    }
    if (!info.isFile()) return;
    const data = readFileSync(path);
    let plain: Buffer | undefined;
    if (data[0] === 0x1f && data[1] === 0x8b) {
      try {
        plain = gunzipSync(data);
      } catch {
        plain = undefined;
      }
    }
    if (data.includes(bytes) || plain?.includes(bytes) === true) found.push(path);
  };
  walk(dir);
  return found;
}

describe('provenance (e2e)', { timeout: 600_000 }, () => {
  let env: BuildEnv;
  let server: ChildProcess;
  let url: string;
  let context: string;
  let commit: string;
  let baseDigest: string;

  before(async () => {
    env = await startBuildEnv();
    // In a child process: the CLI runs synchronously here, so a server in this process could not answer.
    server = spawn(process.execPath, ['-e', `
      const body = Buffer.from(${JSON.stringify(FILE.toString('base64'))}, 'base64');
      const server = require('node:http').createServer((request, response) => {
        response.writeHead(200, { 'content-length': String(body.length) });
        response.end(body);
      });
      server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    const port = await new Promise<string>((resolve, reject) => {
      server.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
      server.once('error', reject);
    });
    url = `http://127.0.0.1:${port}/files/data.txt`;
    context = join(env.work, 'repo');
    await mkdir(join(context, 'app'), { recursive: true });
    await writeFile(join(context, 'app/Dockerfile'), [
      `FROM ${env.busybox}`,
      'ARG VERSION',
      `ADD ${url} /data.txt`,
      'RUN --mount=type=secret,id=token test "$(wc -c < /run/secrets/token)" -gt 0 && echo "$VERSION" > /version',
      `COPY --from=${env.busybox} /bin/busybox /bb`,
      '',
    ].join('\n'));
    git(context, 'init', '-q');
    git(context, 'add', '.');
    git(context, 'commit', '-q', '-m', 'app');
    git(context, 'remote', 'add', 'origin', 'https://ci-bot:repo-token-123@git.example.com/org/app.git');
    commit = git(context, 'rev-parse', 'HEAD');
    await writeFile(join(env.work, 'token'), SECRET);
    const response = await fetch(`http://${env.registry.host}/v2/busybox/manifests/latest`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' } });
    baseDigest = response.headers.get('docker-content-digest') ?? '';
    assert.match(baseDigest, /^sha256:[0-9a-f]{64}$/u);
  });
  after(async () => {
    server.kill();
    await env.close();
  });

  let builds = 0;
  /** `provenance`: the flags (default `--provenance=mode=<mode>`); `outputs`: more flags (tags, outputs). */
  function build(mode: 'min' | 'max', more: { provenance?: readonly string[]; outputs?: readonly string[] } = {}): { root: string; statement: Json } {
    const n = ++builds;
    const root = join(env.work, `root-${mode}-${n}`);
    const metadataFile = join(env.work, `metadata-${mode}-${n}.json`);
    const run = env.build([
      '--allow', 'network.host',
      '--secret', `id=token,src=${join(env.work, 'token')}`,
      '--build-arg', `VERSION=${ARG_VALUE}`,
      // `--attest` flags replace `--provenance` (a later flag of one type wins, as buildx).
      ...(more.provenance ?? [`--provenance=mode=${mode}`]),
      '--metadata-file', metadataFile,
      ...(more.outputs ?? ['-t', `prov-${mode}:latest`]),
      join(context, 'app'),
    ], { root });
    assert.equal(run.status, 0, run.stderr);
    return { root, statement: provenanceOf(root, metadataFile) };
  }

  it('max: build args, secret ids (never values), git config source, every dependency by digest', async () => {
    const ociTar = join(env.work, 'max-oci.tar');
    const pushed = `${env.registry.host}/prov-app:max`;
    const { root, statement } = build('max', { outputs: ['-t', pushed, '--push', '-o', `type=oci,dest=${ociTar}`, '-o', 'type=image'] });
    assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v1');
    const predicate = statement.predicate as Json;
    assert.deepEqual(at(predicate, 'buildDefinition', 'externalParameters', 'configSource'), {
      uri: 'https://git.example.com/org/app.git#refs/heads/main:app',
      digest: { sha1: commit },
      path: 'Dockerfile',
    });
    const request = at(predicate, 'buildDefinition', 'externalParameters', 'request') as Json;
    assert.equal(request.frontend, 'dockerfile.v0');
    assert.equal(at(request, 'args', 'build-arg:VERSION'), ARG_VALUE);
    // A secret mount is optional unless it says required=true (Dockerfile reference).
    assert.deepEqual(request.secrets, [{ id: 'token', optional: true }]);
    const deps = at(predicate, 'buildDefinition', 'resolvedDependencies') as { uri: string; digest: Record<string, string> }[];
    const base = deps.filter((d) => d.uri === `pkg:docker/${env.busybox.replace(/:latest$/u, '')}@latest?platform=linux%2Famd64`);
    // FROM and COPY --from name the same image: one dependency, by the digest the registry gives the tag.
    assert.equal(base.length, 1, JSON.stringify(deps));
    assert.deepEqual(base[0]?.digest, { sha256: baseDigest.slice('sha256:'.length) });
    assert.deepEqual(deps.find((d) => d.uri === url)?.digest, { sha256: createHash('sha256').update(FILE).digest('hex') });
    assert.deepEqual(deps.find((d) => d.uri.startsWith('https://git.example.com/'))?.digest, { sha1: commit });
    const metadata = at(predicate, 'runDetails', 'metadata') as Json;
    assert.match(String(metadata.invocationId), /^[0-9a-f]{16}$/u);
    assert.ok(Date.parse(String(metadata.startedOn)) <= Date.parse(String(metadata.finishedOn)));
    assert.deepEqual(metadata.buildkit_completeness, { request: true, resolvedDependencies: false });
    const source = at(metadata, 'buildkit_metadata', 'source', 'infos') as { data: string }[];
    assert.match(Buffer.from(source[0]?.data ?? '', 'base64').toString(), /--mount=type=secret,id=token/u);
    const steps = at(predicate, 'buildDefinition', 'internalParameters', 'buildConfig', 'llbDefinition') as { id: string }[];
    assert.ok(steps.length >= 4);
    // The layer map: the last step (the target) has the image's layer chain, base layer first.
    const layers = at(metadata, 'buildkit_metadata', 'layers') as Record<string, { digest: string }[][]>;
    const last = layers[`${steps[steps.length - 1]?.id ?? ''}:0`]?.[0] ?? [];
    assert.ok(last.length >= 3, JSON.stringify(layers));
    assert.ok(last.every((l) => /^sha256:[0-9a-f]{64}$/u.test(l.digest)));
    const text = JSON.stringify(statement);
    assert.ok(!text.includes('repo-token-123'), 'git credentials in the provenance');
    assert.deepEqual(filesContaining(root, SECRET), [], 'the secret value is in the stored output');
    // The search does read the stored attestation: the build arg's value (in max provenance) is found.
    assert.ok(filesContaining(root, ARG_VALUE).some((path) => path.includes('/content/blobs/')), 'the search missed the provenance blob');
    // The OCI output (every blob, layers decompressed) and the registry's storage after the push: the
    // provenance is there (the arg value), the secret is not.
    const ociDir = join(env.work, 'max-oci');
    await mkdir(ociDir);
    execFileSync('tar', ['-xf', ociTar, '-C', ociDir]);
    for (const [what, dir] of [['the OCI output', ociDir], ['the registry', env.registry.dataDir]] as const) {
      assert.ok(filesContaining(dir, ARG_VALUE).length > 0, `no provenance in ${what}`);
      assert.deepEqual(filesContaining(dir, SECRET), [], `the secret value is in ${what}`);
    }
    // The secret file is what the RUN read: the value is known to the build, so its absence means something.
    assert.equal((await readFile(join(env.work, 'token'), 'utf8')), SECRET);
  });

  it('min: no build arg values, no secret ids, no Dockerfile; the same dependencies and config source', () => {
    const { root, statement } = build('min');
    const predicate = statement.predicate as Json;
    const request = at(predicate, 'buildDefinition', 'externalParameters', 'request') as Json;
    assert.equal(at(request, 'args', 'build-arg:VERSION'), undefined);
    assert.equal(request.secrets, undefined);
    assert.equal(at(predicate, 'runDetails', 'metadata', 'buildkit_metadata', 'source'), undefined);
    assert.equal(at(predicate, 'runDetails', 'metadata', 'buildkit_completeness', 'request'), false);
    assert.equal(at(predicate, 'buildDefinition', 'externalParameters', 'configSource', 'digest', 'sha1'), commit);
    const deps = at(predicate, 'buildDefinition', 'resolvedDependencies') as { uri: string }[];
    assert.ok(deps.some((d) => d.uri === url));
    assert.ok(deps.some((d) => d.uri.startsWith('pkg:docker/')));
    const text = JSON.stringify(statement);
    assert.ok(!text.includes(ARG_VALUE), 'a build arg value in min provenance');
    assert.ok(!text.includes('"token"'), 'a secret id in min provenance');
    assert.deepEqual(filesContaining(root, SECRET), [], 'the secret value is in the stored output');
  });

  it('version=v0.2 and builder-id are honoured; SOURCE_DATE_EPOCH does not change the build times (as BuildKit)', () => {
    const before = Date.now();
    const { statement } = build('max', { provenance: ['--attest', 'type=provenance,mode=max,version=v0.2,builder-id=https://ci.example.com/run/42', '--build-arg', 'SOURCE_DATE_EPOCH=86400'] });
    // Provenance records this invocation: real times, the epoch only as the build arg it was given as.
    assert.ok(Date.parse(String(at(statement, 'predicate', 'metadata', 'buildStartedOn'))) >= before - 1000);
    assert.equal(at(statement, 'predicate', 'invocation', 'parameters', 'args', 'build-arg:SOURCE_DATE_EPOCH'), '86400');
    assert.equal(statement.predicateType, 'https://slsa.dev/provenance/v0.2');
    assert.deepEqual(at(statement, 'predicate', 'builder'), { id: 'https://ci.example.com/run/42' });
    assert.equal(at(statement, 'predicate', 'invocation', 'configSource', 'entryPoint'), 'Dockerfile');
    assert.equal(at(statement, 'predicate', 'invocation', 'parameters', 'args', 'build-arg:VERSION'), ARG_VALUE);
  });
});

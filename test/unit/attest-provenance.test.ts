import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDigest, parsePlatform } from '../../src/core/index.js';
import { DEFAULT_BUILDER_ID, PROVENANCE_V02, PROVENANCE_V1, STAGECRAFT_BUILD_TYPE, dependencyPurl, makeProvenance, type ProvenanceFacts } from '../../src/attest/provenance.js';

const BASE = parseDigest(`sha256:${'1'.repeat(64)}`);
const TOOL = parseDigest(`sha256:${'2'.repeat(64)}`);
const FILE = `sha256:${'3'.repeat(64)}`;
const COMMIT = 'a'.repeat(40);

const facts: ProvenanceFacts = {
  invocationId: 'b1d0000000000001',
  startedOn: new Date('2026-12-06T10:00:00.123Z'),
  finishedOn: new Date('2026-12-06T10:00:05.456Z'),
  builderPlatform: parsePlatform('linux/amd64'),
  frontend: 'dockerfile.v0',
  dockerfile: { path: 'build/Dockerfile', text: 'FROM alpine:3.20\nRUN --mount=type=secret,id=token true\n' },
  git: { uri: 'https://bot:ghp_token@example.com/org/app.git', commit: COMMIT, commitTime: 1_700_000_000, ref: 'refs/heads/main', subdir: 'app' },
  args: { 'build-arg:VERSION': '1.2.3', 'label:team': 'core', target: 'release', 'no-cache': '' },
  locals: ['context', 'dockerfile'],
  secrets: [{ id: 'token', optional: false }, { id: 'npmrc', optional: true }, { id: 'token', optional: true }],
  ssh: [{ id: 'default', optional: false }],
  images: [
    { ref: 'alpine:3.20', platform: parsePlatform('linux/amd64'), digest: BASE },
    { ref: 'localhost:5000/tools/cc', platform: parsePlatform('linux/arm/v7'), digest: TOOL },
    { ref: 'alpine:3.20', platform: parsePlatform('linux/amd64'), digest: BASE },
  ],
  http: [{ url: 'https://user:pw@files.example.com/a.tgz?v=2', digest: FILE }],
  networkAccess: true,
  steps: [
    { id: 'sha256:s0', op: { type: 'image', ref: 'alpine:3.20' }, inputs: [], layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: BASE, size: 3 }] },
    { id: 'sha256:s1', op: { type: 'exec', args: ['true'] }, inputs: ['sha256:s0'], range: { start: { line: 2, column: 0 }, end: { line: 2, column: 40 } } },
  ],
};

type Json = Record<string, unknown>;
function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) current = (current as Json | undefined)?.[key];
  return current;
}

describe('makeProvenance', () => {
  it('v1 max: every field BuildKit fills, build args and secret/ssh ids included', () => {
    const { predicateType, predicate } = makeProvenance(facts, { mode: 'max', version: 'v1' });
    assert.equal(predicateType, PROVENANCE_V1);
    assert.equal(at(predicate, 'buildDefinition', 'buildType'), STAGECRAFT_BUILD_TYPE);
    assert.deepEqual(at(predicate, 'buildDefinition', 'externalParameters', 'configSource'), {
      uri: 'https://example.com/org/app.git#refs/heads/main:app',
      digest: { sha1: COMMIT },
      path: 'build/Dockerfile',
    });
    assert.deepEqual(at(predicate, 'buildDefinition', 'externalParameters', 'request'), {
      frontend: 'dockerfile.v0',
      args: { 'build-arg:VERSION': '1.2.3', 'label:team': 'core', 'no-cache': '', target: 'release' },
      secrets: [{ id: 'npmrc', optional: true }, { id: 'token' }],
      ssh: [{ id: 'default' }],
      locals: [{ name: 'context' }, { name: 'dockerfile' }],
    });
    assert.deepEqual(at(predicate, 'buildDefinition', 'resolvedDependencies'), [
      { uri: 'pkg:docker/alpine@3.20?platform=linux%2Famd64', digest: { sha256: '1'.repeat(64) } },
      { uri: 'pkg:docker/localhost:5000/tools/cc@latest?platform=linux%2Farm%2Fv7', digest: { sha256: '2'.repeat(64) } },
      { uri: 'https://example.com/org/app.git#refs/heads/main:app', digest: { sha1: COMMIT } },
      { uri: 'https://files.example.com/a.tgz?v=2', digest: { sha256: '3'.repeat(64) } },
    ]);
    assert.equal(at(predicate, 'buildDefinition', 'internalParameters', 'builderPlatform'), 'linux/amd64');
    assert.deepEqual(at(predicate, 'buildDefinition', 'internalParameters', 'buildConfig'), {
      llbDefinition: [
        { id: 'step0', op: { type: 'image', ref: 'alpine:3.20' } },
        { id: 'step1', op: { type: 'exec', args: ['true'] }, inputs: ['step0:0'] },
      ],
      digestMapping: { 'sha256:s0': 'step0', 'sha256:s1': 'step1' },
    });
    assert.deepEqual(at(predicate, 'runDetails', 'builder'), { id: DEFAULT_BUILDER_ID });
    const metadata = at(predicate, 'runDetails', 'metadata') as Json;
    assert.equal(metadata.invocationId, 'b1d0000000000001');
    assert.equal(metadata.startedOn, '2026-12-06T10:00:00.123Z');
    assert.equal(metadata.finishedOn, '2026-12-06T10:00:05.456Z');
    assert.deepEqual(metadata.buildkit_completeness, { request: true, resolvedDependencies: false });
    assert.equal(metadata.buildkit_reproducible, false);
    assert.equal(metadata.buildkit_hermetic, undefined);
    const buildkit = metadata.buildkit_metadata as Json;
    assert.deepEqual(buildkit.vcs, { revision: COMMIT, source: 'https://example.com/org/app.git', 'localdir:context': 'app' });
    assert.deepEqual(buildkit.source, {
      infos: [{ filename: 'build/Dockerfile', language: 'Dockerfile', data: Buffer.from(facts.dockerfile.text).toString('base64') }],
      locations: { step1: { locations: [{ sourceIndex: 0, ranges: [{ start: { line: 2, character: 0 }, end: { line: 2, character: 40 } }] }] } },
    });
    // The layer map: only steps whose layers the build has (here the base), as chains.
    assert.deepEqual(buildkit.layers, { 'step0:0': [[{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: BASE, size: 3 }]] });
    assert.ok(!JSON.stringify(predicate).includes('ghp_token'));
    assert.ok(!JSON.stringify(predicate).includes('user:pw'));
  });

  it('v1 min: no build args, labels, secrets, ssh, Dockerfile or plan; request marked incomplete', () => {
    const { predicate } = makeProvenance(facts, { mode: 'min', version: 'v1', builderId: 'https://ci.example.com/run/7', reproducible: true });
    assert.deepEqual(at(predicate, 'buildDefinition', 'externalParameters', 'request'), {
      frontend: 'dockerfile.v0',
      args: { 'no-cache': '', target: 'release' },
      locals: [{ name: 'context' }, { name: 'dockerfile' }],
    });
    assert.deepEqual(at(predicate, 'buildDefinition', 'internalParameters'), { builderPlatform: 'linux/amd64' });
    // The same materials and config source as max: min leaves out parameters, not dependencies.
    assert.deepEqual(at(predicate, 'buildDefinition', 'resolvedDependencies'), at(makeProvenance(facts, { mode: 'max', version: 'v1' }).predicate, 'buildDefinition', 'resolvedDependencies'));
    assert.equal(at(predicate, 'buildDefinition', 'externalParameters', 'configSource', 'path'), 'build/Dockerfile');
    assert.deepEqual(at(predicate, 'runDetails', 'builder'), { id: 'https://ci.example.com/run/7' });
    assert.deepEqual(at(predicate, 'runDetails', 'metadata', 'buildkit_completeness'), { request: false, resolvedDependencies: false });
    assert.equal(at(predicate, 'runDetails', 'metadata', 'buildkit_reproducible'), true);
    assert.equal(at(predicate, 'runDetails', 'metadata', 'buildkit_metadata', 'source'), undefined);
    assert.equal(at(predicate, 'runDetails', 'metadata', 'buildkit_metadata', 'layers'), undefined);
    const text = JSON.stringify(predicate);
    for (const absent of ['1.2.3', 'label:team', 'token', 'npmrc', 'FROM alpine']) assert.ok(!text.includes(absent), absent);
  });

  it('records the build\'s SOURCE_DATE_EPOCH and its source in min and max, v1 and v0.2 (what verify rebuilds with)', () => {
    const withEpoch = { ...facts, sourceDateEpoch: { seconds: 1_600_000_000, source: 'git' } };
    for (const mode of ['min', 'max'] as const) {
      const v1 = makeProvenance(withEpoch, { mode, version: 'v1' }).predicate;
      assert.equal(at(v1, 'buildDefinition', 'internalParameters', 'sourceDateEpoch'), 1_600_000_000);
      assert.equal(at(v1, 'buildDefinition', 'internalParameters', 'sourceDateEpochSource'), 'git');
      const v02 = makeProvenance(withEpoch, { mode, version: 'v0.2' }).predicate;
      assert.deepEqual(at(v02, 'invocation', 'environment'), { platform: 'linux/amd64', sourceDateEpoch: 1_600_000_000, sourceDateEpochSource: 'git' });
    }
    // A wall-clock build (--reproducible=false) has none.
    assert.equal(at(makeProvenance(facts, { mode: 'max', version: 'v1' }).predicate, 'buildDefinition', 'internalParameters', 'sourceDateEpoch'), undefined);
  });

  it('min without build args or labels keeps the request complete', () => {
    const { predicate } = makeProvenance({ ...facts, args: { target: 'release' } }, { mode: 'min', version: 'v1' });
    assert.equal(at(predicate, 'runDetails', 'metadata', 'buildkit_completeness', 'request'), true);
  });

  it('v0.2: the same facts under the v0.2 names', () => {
    const { predicateType, predicate } = makeProvenance(facts, { mode: 'max', version: 'v0.2', builderId: 'urn:b' });
    assert.equal(predicateType, PROVENANCE_V02);
    assert.deepEqual(predicate.builder, { id: 'urn:b' });
    assert.match(String(predicate.buildType), /provenance\.md#slsa-v02$/u);
    assert.deepEqual(at(predicate, 'invocation', 'configSource'), { uri: 'https://example.com/org/app.git#refs/heads/main:app', digest: { sha1: COMMIT }, entryPoint: 'build/Dockerfile' });
    assert.deepEqual(at(predicate, 'invocation', 'parameters', 'secrets'), [{ id: 'npmrc', optional: true }, { id: 'token' }]);
    assert.deepEqual(at(predicate, 'invocation', 'environment'), { platform: 'linux/amd64' });
    assert.equal((predicate.materials as unknown[]).length, 4);
    assert.deepEqual(at(predicate, 'metadata', 'completeness'), { parameters: true, environment: true, materials: false });
    assert.equal(at(predicate, 'metadata', 'buildInvocationID'), 'b1d0000000000001');
    assert.equal(at(predicate, 'metadata', 'buildStartedOn'), '2026-12-06T10:00:00.123Z');
    assert.equal(at(predicate, 'metadata', 'reproducible'), false);
    assert.ok(at(predicate, 'buildConfig', 'llbDefinition'));
    assert.ok(at(predicate, 'metadata', 'https://mobyproject.org/buildkit@v1#metadata', 'source'));
    const min = makeProvenance(facts, { mode: 'min', version: 'v0.2' }).predicate;
    assert.equal(min.buildConfig, undefined);
    assert.equal(at(min, 'invocation', 'parameters', 'secrets'), undefined);
    assert.equal(at(min, 'invocation', 'parameters', 'args', 'build-arg:VERSION'), undefined);
  });

  it('without a git origin: config source is the Dockerfile path only, the commit still in vcs', () => {
    const { predicate } = makeProvenance({ ...facts, git: { commit: COMMIT } }, { mode: 'min', version: 'v1' });
    assert.deepEqual(at(predicate, 'buildDefinition', 'externalParameters', 'configSource'), { path: 'build/Dockerfile' });
    assert.equal((at(predicate, 'buildDefinition', 'resolvedDependencies') as unknown[]).length, 3);
    assert.deepEqual(at(predicate, 'runDetails', 'metadata', 'buildkit_metadata', 'vcs'), { revision: COMMIT });
  });

  it('is deterministic: the same facts give the same JSON', () => {
    const a = JSON.stringify(makeProvenance(facts, { mode: 'max', version: 'v1' }));
    const b = JSON.stringify(makeProvenance({ ...facts, args: Object.fromEntries(Object.entries(facts.args).reverse()), secrets: [...facts.secrets].reverse() }, { mode: 'max', version: 'v1' }));
    assert.equal(a, b);
  });

  it('hermetic only without local sources and without network', () => {
    const sealed = makeProvenance({ ...facts, locals: [], networkAccess: false }, { mode: 'min', version: 'v1' }).predicate;
    assert.equal(at(sealed, 'runDetails', 'metadata', 'buildkit_hermetic'), true);
    assert.equal(at(sealed, 'runDetails', 'metadata', 'buildkit_completeness', 'resolvedDependencies'), true);
    const networked = makeProvenance({ ...facts, locals: [], networkAccess: true }, { mode: 'min', version: 'v1' }).predicate;
    assert.equal(at(networked, 'runDetails', 'metadata', 'buildkit_hermetic'), undefined);
  });
});

describe('dependencyPurl', () => {
  it('writes image references as BuildKit (familiar name, tag as version, digest and platform qualifiers)', () => {
    assert.equal(dependencyPurl('docker.io/library/alpine:latest', parsePlatform('linux/amd64')), 'pkg:docker/alpine@latest?platform=linux%2Famd64');
    assert.equal(dependencyPurl('busybox', undefined), 'pkg:docker/busybox@latest');
    assert.equal(dependencyPurl('ghcr.io/o/r@sha256:' + '4'.repeat(64), parsePlatform('linux/arm64')), `pkg:docker/ghcr.io/o/r?digest=sha256%3A${'4'.repeat(64)}&platform=linux%2Farm64`);
    assert.equal(dependencyPurl('localhost:5000/base:1', undefined, true), 'pkg:oci/localhost:5000/base@1');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeProvenance } from '../../src/attest/index.js';
import { parseDigest, parsePlatform } from '../../src/core/index.js';
import { provenanceFacts, type ProvenanceFactsInput } from '../../src/engine/provenance-facts.js';
import { PlanBuilder, type ExecMount, type VertexId } from '../../src/plan/index.js';

const AMD64 = parsePlatform('linux/amd64');
const DIGEST = parseDigest(`sha256:${'5'.repeat(64)}`);

function plan(): { vertices: ProvenanceFactsInput['vertices']; root: VertexId; unused: VertexId } {
  const builder = new PlanBuilder();
  const base = builder.add({ type: 'image', ref: 'alpine:3.20', platform: AMD64 }, [], { name: 'base' });
  const exec = (args: string[], network: 'default' | 'none', mounts: ExecMount[], input: VertexId): VertexId =>
    builder.add({ type: 'exec', args, env: [], cwd: '/', user: '', network, security: 'sandbox', mounts, proxyEnv: ['HTTP_PROXY=http://u:proxy-pass@proxy:3128'] }, [input], {
      name: args.join(' '),
      location: { file: 'ctx/Dockerfile', range: { start: { line: 3, column: 0 }, end: { line: 3, column: 20 } } },
    });
  const first = exec(['sh', '-c', 'one'], 'none', [{ type: 'secret', id: 'npmrc', required: true, uid: 0, gid: 0, mode: 0o400, target: '/run/secrets/npmrc' }], base);
  const second = exec(['sh', '-c', 'two'], 'none', [{ type: 'ssh', id: 'default', target: '/run/ssh', required: false, uid: 0, gid: 0, mode: 0o600 }], first);
  // A stage the target does not need: its secret and network are not the build's.
  const unused = exec(['sh', '-c', 'unused'], 'default', [{ type: 'secret', id: 'unused-secret', required: true, uid: 0, gid: 0, mode: 0o400 }], base);
  const built = builder.build([second, unused]);
  return { vertices: built.vertices, root: second, unused };
}

function input(overrides: Partial<ProvenanceFactsInput> = {}): ProvenanceFactsInput {
  const { vertices, root } = plan();
  return {
    buildId: 'abc',
    startedOn: new Date(1000),
    finishedOn: new Date(2000),
    builderPlatform: AMD64,
    contextDir: '/work/ctx',
    dockerfile: { path: 'ctx/Dockerfile', text: 'FROM alpine\n' },
    buildArgs: new Map([['VERSION', '1'], ['SOURCE_DATE_EPOCH', '0']]),
    labels: new Map([['team', 'core']]),
    target: 'release',
    noCache: false,
    noCacheFilter: ['build', 'test'],
    network: 'none',
    exec: { extraHosts: [{ host: 'db', ip: '10.0.0.2' }], shmSize: 1024, ulimits: [{ name: 'nofile', soft: 10, hard: 20 }] },
    namedContexts: new Map([['assets', { kind: 'local', dir: '/host/path/assets' }], ['tools', { kind: 'image', ref: 'ghcr.io/o/tools:1' }]]),
    vertices,
    root,
    images: [
      { ref: 'zlib:1', platform: AMD64, digest: DIGEST, manifestDigest: DIGEST },
      { ref: 'alpine:3.20', platform: AMD64, digest: DIGEST, manifestDigest: DIGEST },
    ],
    downloads: [{ url: 'https://b.example.com/x', digest: `sha256:${'6'.repeat(64)}` }, { url: 'https://a.example.com/y', digest: `sha256:${'7'.repeat(64)}` }],
    git: undefined,
    ...overrides,
  };
}

describe('provenanceFacts', () => {
  it('names the request as BuildKit frontend attributes (no platform), locals with named directories', () => {
    const facts = provenanceFacts(input());
    assert.deepEqual(facts.args, {
      'build-arg:VERSION': '1',
      'build-arg:SOURCE_DATE_EPOCH': '0',
      'label:team': 'core',
      target: 'release',
      'no-cache': 'build,test',
      'force-network-mode': 'none',
      'add-hosts': 'db=10.0.0.2',
      'shm-size': '1024',
      ulimit: 'nofile=10:20',
      'context:assets': 'local:assets',
      'context:tools': 'docker-image://ghcr.io/o/tools:1',
    });
    assert.deepEqual(facts.locals, ['context', 'dockerfile', 'assets']);
    assert.ok(!JSON.stringify(facts.args).includes('/host/path'));
  });

  it('takes secret and ssh ids, network use and steps from the vertices the target needs only', () => {
    const { vertices, root, unused } = plan();
    const facts = provenanceFacts(input({ vertices, root }));
    assert.deepEqual(facts.secrets, [{ id: 'npmrc', optional: false }]);
    assert.deepEqual(facts.ssh, [{ id: 'default', optional: true }]);
    assert.equal(facts.networkAccess, false);
    const steps = facts.steps ?? [];
    assert.equal(steps.length, 3);
    assert.ok(!steps.some((s) => s.id === unused));
    assert.equal(steps[steps.length - 1]?.id, root);
    // Dependencies first; each step's inputs come before it.
    steps.forEach((step, i) => step.inputs.forEach((id) => assert.ok(steps.findIndex((s) => s.id === id) < i)));
    // Dockerfile lines of its steps; proxy variables (credentials) never shown.
    assert.deepEqual(steps[1]?.range, { start: { line: 3, column: 0 }, end: { line: 3, column: 20 } });
    assert.ok(!JSON.stringify(steps).includes('proxy-pass'));
    const networked = provenanceFacts(input({ vertices, root: unused }));
    assert.equal(networked.networkAccess, true);
    assert.deepEqual(networked.secrets, [{ id: 'unused-secret', optional: false }]);
  });

  it('gives the Dockerfile path relative to the context, else its name; dependencies sorted', () => {
    assert.equal(provenanceFacts(input({ contextDir: '/work', dockerfile: { path: '/work/sub/Dockerfile.prod', text: '' } })).dockerfile.path, 'sub/Dockerfile.prod');
    assert.equal(provenanceFacts(input({ contextDir: '/work/ctx', dockerfile: { path: '/elsewhere/Dockerfile.ci', text: '' } })).dockerfile.path, 'Dockerfile.ci');
    assert.equal(provenanceFacts(input({ dockerfile: { path: '<stdin>', text: '' } })).dockerfile.path, 'Dockerfile');
    const facts = provenanceFacts(input());
    assert.deepEqual(facts.images.map((i) => i.ref), ['alpine:3.20', 'zlib:1']);
    assert.deepEqual(facts.http.map((h) => h.url), ['https://a.example.com/y', 'https://b.example.com/x']);
  });

  it('feeds makeProvenance: max carries the plan with stepN ids, the source map of the Dockerfile lines and the solved steps\' layers', () => {
    const { vertices, root } = plan();
    const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'4'.repeat(64)}`, size: 10, diffId: 'x', source: 'y' };
    const { predicate } = makeProvenance(provenanceFacts(input({ vertices, root, layers: (id) => (id === root ? [layer] : undefined) })), { mode: 'max', version: 'v1' });
    const layers = (predicate.runDetails as { metadata: { buildkit_metadata: { layers: Record<string, unknown> } } }).metadata.buildkit_metadata.layers;
    // Only the descriptor fields; the root is the last step.
    assert.deepEqual(layers, { 'step2:0': [[{ mediaType: layer.mediaType, digest: layer.digest, size: 10 }]] });
    const text = JSON.stringify(predicate);
    assert.match(text, /"llbDefinition":\[\{"id":"step0","op":\{"type":"image"/u);
    assert.match(text, /"step1":\{"locations":\[\{"sourceIndex":0,"ranges":\[\{"start":\{"line":3,"character":0\}/u);
  });
});

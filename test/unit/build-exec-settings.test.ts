/**
 * `--add-host`, `--shm-size`, `--ulimit`, `--cgroup-parent`, `--memory`… are part of every RUN op (so of its cache key, as BuildKit's
 * exec op meta); `--annotation` lands in the assembled manifest.
 */
import assert from 'node:assert/strict';
import { parsePlatform } from '../../src/core/index.js';
import { describe, it } from 'node:test';
import { ShellLex, convertDockerfile, loadDockerfile, type ConvertResult } from '../../src/dockerfile/index.js';
import { assembleImage } from '../../src/image/index.js';
import type { ExecSettings } from '../../src/plan/index.js';

const AMD64 = parsePlatform('linux/amd64');

async function convert(text: string, exec?: ExecSettings): Promise<ConvertResult> {
  const parsed = loadDockerfile(text, 'Dockerfile');
  return convertDockerfile(parsed, {
    lex: new ShellLex({ escapeToken: parsed.escapeToken }),
    buildPlatform: AMD64,
    targetPlatform: AMD64,
    resolveImage: () => Promise.resolve({ ref: `busybox@sha256:${'0'.repeat(64)}`, image: { architecture: 'amd64', os: 'linux', config: {}, history: [], rootfs: { type: 'layers', diff_ids: [] } } }),
    exec,
  });
}

describe('build-wide RUN settings', () => {
  const dockerfile = 'FROM busybox\nRUN cat /etc/hosts\nCOPY a /a\n';
  it('are written into every exec op (only those given), and change its vertex id', async () => {
    const plain = await convert(dockerfile);
    const settings = { extraHosts: [{ host: 'db', ip: '10.0.0.5' }], shmSize: 134217728, ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }], cgroupParent: 'ci', resources: { memory: 1024 } };
    const withSettings = await convert(dockerfile, settings);
    const exec = (result: ConvertResult) => result.plan.vertices.find((v) => v.op.type === 'exec');
    const op = exec(withSettings)?.op;
    assert.ok(op?.type === 'exec');
    assert.deepEqual([op.extraHosts, op.shmSize, op.ulimits, op.cgroupParent, op.resources], [settings.extraHosts, settings.shmSize, settings.ulimits, 'ci', { memory: 1024 }]);
    const plainOp = exec(plain)?.op;
    assert.ok(plainOp?.type === 'exec' && !('extraHosts' in plainOp) && !('shmSize' in plainOp) && !('ulimits' in plainOp) && !('cgroupParent' in plainOp) && !('resources' in plainOp));
    assert.notEqual(exec(plain)?.id, exec(withSettings)?.id);
    // Empty settings leave the plan as without them (no cache miss for builds without the flags).
    assert.equal(exec(await convert(dockerfile, { extraHosts: [], ulimits: [], cgroupParent: '', resources: {} }))?.id, exec(plain)?.id);
  });
});

describe('--annotation in the manifest', () => {
  const input = { architecture: 'amd64', os: 'linux', config: {}, history: [], layers: [], created: '2024-01-01T00:00:00Z' };
  it('adds sorted annotations after the layers; none leaves the manifest as before', () => {
    const plain = assembleImage(input);
    assert.ok(!('annotations' in (JSON.parse(plain.manifest.toString()) as object)));
    assert.equal(assembleImage({ ...input, annotations: {} }).manifestDigest, plain.manifestDigest);
    const annotated = assembleImage({ ...input, annotations: { 'z.key': '1', 'a.key': '' } });
    const manifest = JSON.parse(annotated.manifest.toString()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(manifest), ['schemaVersion', 'mediaType', 'config', 'layers', 'annotations']);
    assert.equal(JSON.stringify(manifest.annotations), '{"a.key":"","z.key":"1"}');
    assert.equal(annotated.configDigest, plain.configDigest);
  });
});

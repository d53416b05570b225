/**
 * layerSources: each layer of a built image named by the Dockerfile instruction that made it, from
 * the plan's vertices and the layers the solve produced.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePlatform, sha256Digest, type Digest } from '../../src/core/index.js';
import { layerSources } from '../../src/engine/index.js';
import type { Vertex } from '../../src/plan/index.js';

const d = (name: string): Digest => sha256Digest(Buffer.from(name));
const range = (line: number): Vertex['meta']['location'] => ({ file: 'Dockerfile', range: { start: { line, column: 0 }, end: { line, column: 10 } } });

describe('layerSources', () => {
  it('maps base layers to FROM, a step\'s own layer to its step, and a step that added nothing to nothing', () => {
    const base: Vertex = { id: d('v-base'), op: { type: 'image', ref: 'busybox', platform: parsePlatform('linux/amd64') }, inputs: [], meta: { name: '[1/3] FROM busybox', location: range(1) } };
    const copy: Vertex = { id: d('v-copy'), op: { type: 'file', actions: [] }, inputs: [base.id], meta: { name: '[2/3] COPY .npmrc /app/', location: range(2) } };
    const noop: Vertex = { id: d('v-noop'), op: { type: 'file', actions: [] }, inputs: [copy.id], meta: { name: '[3/3] COPY empty/ /x/', location: range(3) } };
    const vertices = new Map([base, copy, noop].map((v) => [v.id, v]));
    const L = (name: string): { diffId: Digest } => ({ diffId: d(name) });
    const vertexLayers = new Map([
      [base.id, [L('b0'), L('b1')]],
      [copy.id, [L('b0'), L('b1'), L('c')]],
      [noop.id, [L('b0'), L('b1'), L('c')]],
    ]);
    const sources = layerSources([L('b0'), L('b1'), L('c'), L('unknown')], vertexLayers, vertices);
    assert.deepEqual(sources, [
      { file: 'Dockerfile', line: 1, instruction: 'FROM busybox' },
      { file: 'Dockerfile', line: 1, instruction: 'FROM busybox' },
      { file: 'Dockerfile', line: 2, instruction: 'COPY .npmrc /app/' },
      undefined,
    ]);
  });
});

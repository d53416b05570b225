import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256Digest, type Digest } from '../../src/core/index.js';
import { RecordingSink } from '../../src/events/index.js';
import { solve, VertexError, type Op, type ResultCache, type SelectedContent, type SolveNode } from '../../src/solver/index.js';

type R = string;

function graph(spec: Record<string, string[]>): Map<string, SolveNode> {
  return new Map(Object.entries(spec).map(([id, inputs]) => [id, { id, inputs, name: `step ${id}` }]));
}

class MapCache implements ResultCache<R> {
  readonly store = new Map<Digest, R>();
  load(key: Digest): Promise<R | undefined> {
    return Promise.resolve(this.store.get(key));
  }
  save(key: Digest, _node: SolveNode, result: R): Promise<void> {
    this.store.set(key, result);
    return Promise.resolve();
  }
}

interface Trace {
  running: number;
  maxRunning: number;
  runs: string[];
}

function ops(trace: Trace, opts: { delayMs?: number; fail?: string; salt?: Record<string, string> } = {}): (node: SolveNode) => Op<R> {
  return (node) => ({
    resource: 'exec',
    cacheKey: () => Promise.resolve({ id: node.id, salt: opts.salt?.[node.id] ?? '' }),
    async execute(inputs, context) {
      trace.running++;
      trace.maxRunning = Math.max(trace.maxRunning, trace.running);
      trace.runs.push(node.id);
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, opts.delayMs ?? 5);
          context.signal.addEventListener('abort', () => { clearTimeout(timer); reject(context.signal.reason); }, { once: true });
        });
        if (node.id === opts.fail) throw new Error('exit code 1');
        context.log('stdout', `ran ${node.id}`);
        return `${node.id}(${inputs.join(',')})`;
      } finally {
        trace.running--;
      }
    },
  });
}

describe('solver', () => {
  const diamond = { base: [], a: ['base'], b: ['base'], c: ['base'], final: ['a', 'b', 'c'] };

  it('runs independent vertices in parallel up to the exec limit and shared inputs once', async () => {
    const trace: Trace = { running: 0, maxRunning: 0, runs: [] };
    const events = new RecordingSink();
    const result = await solve({ nodes: graph(diamond), roots: ['final'], opFor: ops(trace, { delayMs: 30 }), cache: new MapCache(), events, execConcurrency: 3 });
    assert.equal(result.results.get('final'), 'final(a(base()),b(base()),c(base()))');
    assert.equal(trace.runs.filter((r) => r === 'base').length, 1);
    assert.equal(trace.maxRunning, 3);
    assert.equal(result.executed, 5);
    const logs = events.events.filter((e) => e.type === 'vertex.log');
    assert.equal(logs.length, 5);
  });

  it('respects a smaller exec limit', async () => {
    const trace: Trace = { running: 0, maxRunning: 0, runs: [] };
    await solve({ nodes: graph(diamond), roots: ['final'], opFor: ops(trace, { delayMs: 20 }), cache: new MapCache(), events: new RecordingSink(), execConcurrency: 1 });
    assert.equal(trace.maxRunning, 1);
  });

  it('reuses cached results by key without materialising their inputs', async () => {
    const cache = new MapCache();
    const first: Trace = { running: 0, maxRunning: 0, runs: [] };
    await solve({ nodes: graph(diamond), roots: ['final'], opFor: ops(first), cache, events: new RecordingSink() });
    const second: Trace = { running: 0, maxRunning: 0, runs: [] };
    const events = new RecordingSink();
    const result = await solve({ nodes: graph(diamond), roots: ['final'], opFor: ops(second), cache, events });
    assert.deepEqual(second.runs, []);
    assert.equal(result.cached, 1, 'only the root is loaded: its inputs are never needed');
    assert.equal(result.results.get('final'), 'final(a(base()),b(base()),c(base()))');
  });

  it('re-runs exactly the vertices whose key changed and what depends on them', async () => {
    const cache = new MapCache();
    await solve({ nodes: graph(diamond), roots: ['final'], opFor: ops({ running: 0, maxRunning: 0, runs: [] }), cache, events: new RecordingSink() });
    const trace: Trace = { running: 0, maxRunning: 0, runs: [] };
    await solve({ nodes: graph(diamond), roots: ['final'], opFor: ops(trace, { salt: { b: 'changed' } }), cache, events: new RecordingSink() });
    assert.deepEqual(trace.runs.sort(), ['b', 'final']);
  });

  it('honours ignoreCache', async () => {
    const cache = new MapCache();
    await solve({ nodes: graph({ x: [] }), roots: ['x'], opFor: ops({ running: 0, maxRunning: 0, runs: [] }), cache, events: new RecordingSink() });
    const trace: Trace = { running: 0, maxRunning: 0, runs: [] };
    const nodes = new Map([['x', { id: 'x', inputs: [], name: 'x', ignoreCache: true }]]);
    await solve({ nodes, roots: ['x'], opFor: ops(trace), cache, events: new RecordingSink() });
    assert.deepEqual(trace.runs, ['x']);
  });

  it('cancels running vertices on the first failure and names the failing one', async () => {
    const trace: Trace = { running: 0, maxRunning: 0, runs: [] };
    const events = new RecordingSink();
    const spec = { slow1: [], slow2: [], bad: [], final: ['slow1', 'slow2', 'bad'] };
    const failFast: (node: SolveNode) => Op<R> = (node) => {
      const base = ops(trace, { delayMs: node.id === 'bad' ? 5 : 60_000, fail: 'bad' })(node);
      return base;
    };
    const started = Date.now();
    await assert.rejects(
      solve({ nodes: graph(spec), roots: ['final'], opFor: failFast, cache: new MapCache(), events, execConcurrency: 3 }),
      (error: unknown) => error instanceof VertexError && error.node.id === 'bad' && /step bad: exit code 1/.test(error.message),
    );
    assert.ok(Date.now() - started < 30_000, 'slow vertices were cancelled, not awaited (they take 60 s)');
    assert.equal(trace.running, 0, 'nothing still running after solve returns');
    assert.ok(events.events.some((e) => e.type === 'vertex.failed' && e.vertex === 'bad'));
    assert.ok(events.events.some((e) => e.type === 'vertex.canceled'));
    assert.ok(!trace.runs.includes('final'));
  });

  it('tells each step\'s cache key: on vertex.started when it misses, on vertex.cached when it hits', async () => {
    const cache = new MapCache();
    const trace: Trace = { running: 0, maxRunning: 0, runs: [] };
    const cold = new RecordingSink();
    const first = await solve({ nodes: graph(diamond), roots: ['final'], opFor: ops(trace), cache, events: cold });
    const started = cold.events.filter((e) => e.type === 'vertex.started');
    assert.equal(started.length, 5);
    for (const e of started) assert.equal(e.cacheKey, first.keys.get(e.vertex)?.key, e.vertex);
    const warm = new RecordingSink();
    const second = await solve({ nodes: graph(diamond), roots: ['final'], opFor: ops(trace, { salt: { a: 'changed' } }), cache, events: warm });
    const hits = warm.events.filter((e) => e.type === 'vertex.cached');
    const misses = warm.events.filter((e) => e.type === 'vertex.started');
    assert.deepEqual(hits.map((e) => e.vertex).sort(), ['b', 'base', 'c']);
    assert.deepEqual(misses.map((e) => e.vertex).sort(), ['a', 'final']);
    for (const e of [...hits, ...misses]) assert.equal(e.cacheKey, second.keys.get(e.vertex)?.key, e.vertex);
    assert.equal(hits.find((e) => e.vertex === 'b')?.cacheKey, first.keys.get('b')?.key, 'a hit is the key saved before');
    assert.notEqual(misses.find((e) => e.vertex === 'a')?.cacheKey, first.keys.get('a')?.key, 'a changed step has a new key');
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    const trace: Trace = { running: 0, maxRunning: 0, runs: [] };
    setTimeout(() => controller.abort(new Error('SIGINT')), 20);
    await assert.rejects(solve({ nodes: graph({ x: [] }), roots: ['x'], opFor: ops(trace, { delayMs: 5000 }), cache: new MapCache(), events: new RecordingSink(), signal: controller.signal }));
    assert.equal(trace.running, 0);
  });
});

describe('solver: ignoreCache propagates', () => {
  it('re-runs an ignore-cache vertex and everything built on it, even when the root is cached', async () => {
    const cache = new MapCache();
    const spec = { y: [], x: ['y'], root: ['x', 'y'], other: [] , top: ['root', 'other'] };
    await solve({ nodes: graph(spec), roots: ['top'], opFor: ops({ running: 0, maxRunning: 0, runs: [] }), cache, events: new RecordingSink() });
    const trace: Trace = { running: 0, maxRunning: 0, runs: [] };
    const nodes = graph(spec);
    nodes.set('y', { id: 'y', inputs: [], name: 'y', ignoreCache: true });
    await solve({ nodes, roots: ['top'], opFor: ops(trace), cache, events: new RecordingSink() });
    assert.deepEqual(trace.runs.sort(), ['root', 'top', 'x', 'y']);
  });
});

describe('solver: content-selected inputs', () => {
  /** `stage` makes `visible|hidden`; `copy` reads only the visible part of it; `after` follows `copy`. */
  const spec = { base: [], stage: [], copy: ['base', 'stage'], after: ['copy'] };
  class LinkedCache extends MapCache {
    readonly links = new Map<Digest, SelectedContent>();
    linked(key: Digest): Promise<SelectedContent | undefined> {
      return Promise.resolve(this.links.get(key));
    }
    link(key: Digest, content: SelectedContent): Promise<void> {
      this.links.set(key, content);
      return Promise.resolve();
    }
  }
  const run = async (cache: LinkedCache, stage: { visible: string; hidden: string }, reads: string[]): Promise<{ runs: string[]; events: RecordingSink }> => {
    const runs: string[] = [];
    const events = new RecordingSink();
    const opFor = (node: SolveNode): Op<R> => ({
      resource: 'io',
      cacheKey: () => Promise.resolve({ id: node.id, ...(node.id === 'stage' ? stage : {}) }),
      execute: (inputs) => {
        runs.push(node.id);
        return Promise.resolve(node.id === 'stage' ? `${stage.visible}|${stage.hidden}` : `${node.id}(${inputs.join(',')})`);
      },
      ...(node.id === 'copy'
        ? {
            contentInputs: [1],
            selectedContent: (index: number, input: R) => {
              reads.push(`${index}:${input}`);
              const visible = input.split('|')[0] ?? '';
              return Promise.resolve({ digest: sha256Digest(visible), files: [['/out', sha256Digest(visible)]] as const });
            },
          }
        : {}),
    });
    await solve({ nodes: graph(spec), roots: ['after'], opFor, cache, events, explainHit: (_node, key) => `unchanged ${[...(key.selected ?? new Map()).values()].join()}` });
    return { runs, events };
  };

  it('keeps a step and what follows cached when its content input changed outside what it selects', async () => {
    const cache = new LinkedCache();
    const reads: string[] = [];
    const first = await run(cache, { visible: 'v1', hidden: 'h1' }, reads);
    assert.deepEqual(first.runs.sort(), ['after', 'base', 'copy', 'stage']);
    assert.deepEqual(reads, ['1:v1|h1'], 'the selection is read after the input is solved');

    const second = await run(cache, { visible: 'v1', hidden: 'h2' }, reads);
    assert.deepEqual(second.runs, ['stage'], 'only the changed stage ran');
    const hit = second.events.events.find((e) => e.type === 'vertex.cached' && e.vertex === 'copy');
    assert.ok(hit?.type === 'vertex.cached');
    assert.equal(hit.reason, `unchanged ${sha256Digest('v1')}`);

    reads.length = 0;
    const third = await run(cache, { visible: 'v1', hidden: 'h2' }, reads);
    assert.deepEqual(third.runs, []);
    assert.deepEqual(reads, [], 'the link of the selection key is used: nothing is read or solved');
    assert.ok(!third.events.events.some((e) => e.type === 'vertex.cached' && e.reason !== undefined));

    const fourth = await run(cache, { visible: 'v2', hidden: 'h2' }, reads);
    assert.deepEqual(fourth.runs.sort(), ['after', 'copy', 'stage'], 'a change of the selected content re-runs the step');
  });

  it('reads the content again when a content input ignores the cache', async () => {
    const cache = new LinkedCache();
    const reads: string[] = [];
    await run(cache, { visible: 'v1', hidden: 'h1' }, reads);
    const keys = [...cache.links.keys()];
    assert.equal(keys.length, 1);
    // The same definition key, but its link is stale: the stage's result differs from the one the link was made from.
    const linked = cache.links.get(keys[0] as Digest);
    assert.ok(linked !== undefined);
    cache.links.set(keys[0] as Digest, { digest: sha256Digest('stale') });
    const runs: string[] = [];
    const nodes = graph(spec);
    nodes.set('stage', { id: 'stage', inputs: [], name: 'stage', ignoreCache: true });
    const events = new RecordingSink();
    await solve({
      nodes, roots: ['after'], cache, events,
      opFor: (node) => ({
        resource: 'io',
        cacheKey: () => Promise.resolve({ id: node.id, ...(node.id === 'stage' ? { visible: 'v1', hidden: 'h1' } : {}) }),
        execute: (inputs) => {
          runs.push(node.id);
          return Promise.resolve(node.id === 'stage' ? 'v1|h1' : `${node.id}(${inputs.join(',')})`);
        },
        ...(node.id === 'copy' ? { contentInputs: [1], selectedContent: (_i: number, input: R) => Promise.resolve({ digest: sha256Digest(input.split('|')[0] ?? '') }) } : {}),
      }),
    });
    assert.equal(cache.links.get(keys[0] as Digest)?.digest, linked.digest, 'the content was read again, not taken from the stale link');
    assert.ok(runs.includes('stage'));
  });

  it('solves the stages a chain of content-keyed steps reads in parallel', async () => {
    const chain = { base: [], s1: [], s2: [], c1: ['base', 's1'], c2: ['c1', 's2'] };
    const events = new RecordingSink();
    await solve({
      nodes: graph(chain), roots: ['c2'], cache: new LinkedCache(), events,
      opFor: (node) => ({
        resource: 'exec',
        cacheKey: () => Promise.resolve({ id: node.id }),
        execute: async () => {
          await new Promise((resolve) => setTimeout(resolve, node.id.startsWith('s') ? 200 : 1));
          return node.id;
        },
        ...(node.id.startsWith('c') ? { contentInputs: [1], selectedContent: (_i: number, input: R) => Promise.resolve({ digest: sha256Digest(input) }) } : {}),
      }),
      execConcurrency: 4,
    });
    const at = (type: string, id: string): number => events.events.find((e) => e.type === type && 'vertex' in e && e.vertex === id)?.time ?? Number.NaN;
    assert.ok(at('vertex.started', 's2') < at('vertex.completed', 's1'), 's2 started before s1 finished');
  });
});

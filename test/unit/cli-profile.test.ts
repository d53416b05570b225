import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cpuNow, phaseDone, phaseTook } from '../../src/core/index.js';
import { formatProfile, profileRows } from '../../src/cli/profile.js';

/** Burns about `ms` of CPU on this thread. */
function burn(ms: number): void {
  const until = cpuNow() + ms;
  while (cpuNow() < until) {
    // busy
  }
}

describe('STAGECRAFT_PROFILE rows carry the CPU time of each phase', () => {
  it('a mark gets the CPU time since the mark before it; a measure its own when it knows it', () => {
    // The loader's step, as cli-loader.ts records it (wall and CPU start of the step).
    const loadStart = performance.now();
    const loadCpu = cpuNow();
    burn(5);
    const loadAt = cpuNow();
    performance.measure('load: test step', { start: loadStart, end: performance.now(), detail: { cpuAt: loadAt, cpuTook: loadAt - loadCpu } });
    burn(30);
    phaseDone('test: busy phase');
    const walkStart = performance.now();
    burn(10);
    phaseTook('test: a part without CPU', walkStart);
    phaseDone('test: idle phase');

    const rows = profileRows();
    const row = (name: string) => {
      const found = rows.find((r) => r.name === name);
      assert.ok(found, name);
      return found;
    };
    const node = rows[0];
    assert.equal(node?.kind, 'node');
    // Node's start-up: the CPU spent before the loader's first step began.
    assert.ok(node?.cpu !== undefined && Math.abs(node.cpu - loadCpu) < 0.5, `node start-up cpu ${node?.cpu}, the step began at ${loadCpu}`);
    assert.ok((row('load: test step').cpu ?? 0) >= 5);
    const busy = row('test: busy phase').cpu ?? 0;
    assert.ok(busy >= 30 && busy < 60, `busy phase cpu ${busy}`);
    assert.equal(row('test: a part without CPU').cpu, undefined);
    const idle = row('test: idle phase').cpu ?? 0;
    assert.ok(idle >= 10 && idle < 40, `the idle phase spans the part measured in it: ${idle}`);
    assert.ok(rows.at(-1)?.kind === 'exit' && rows.at(-1)?.cpu !== undefined);
    assert.match(formatProfile(rows), /took +cpu +phase\n/u);
    assert.match(formatProfile(rows), /\d+\.\d +\d+\.\d +\d+\.\d +test: busy phase/u);
  });
});

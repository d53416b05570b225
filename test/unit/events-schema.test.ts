import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { EVENT_SCHEMAS, RawJsonLine, toRawJson } from '../../src/events/index.js';

it('docs/progress-events.md documents exactly the event types and fields of the schema', () => {
  const doc = readFileSync(new URL('../../docs/progress-events.md', import.meta.url), 'utf8');
  const rows = new Map([...doc.matchAll(/^\| `([a-z.]+)` \| ([^|]*) \|/gm)].map((m) => [m[1] ?? '', [...(m[2] ?? '').matchAll(/`(\w+)`/g)].map((f) => f[1] ?? '').sort()]));
  assert.deepEqual([...rows.keys()].sort(), Object.keys(EVENT_SCHEMAS).sort());
  for (const [type, schema] of Object.entries(EVENT_SCHEMAS)) {
    const fields = Object.keys(schema.shape).filter((k) => k !== 'type' && k !== 'time').sort();
    assert.deepEqual(rows.get(type), fields, `fields of ${type}`);
  }
});

it('toRawJson lines pass the schema, and malformed lines do not', () => {
  const line = toRawJson({ type: 'vertex.log', vertex: 'sha256:ab', time: 5, stream: 'stdout', data: 'hi\n' });
  assert.equal(RawJsonLine.parse(JSON.parse(line)).type, 'vertex.log');
  assert.throws(() => RawJsonLine.parse({ v: 1, type: 'vertex.log', time: 5, vertex: 'x', stream: 'stdin', data: '' }));
  assert.throws(() => RawJsonLine.parse({ v: 1, type: 'build.warning', time: 5, message: 'x' }));
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BuildEvent } from '../../src/events/index.js';
import { initialPlainState, initialTtyState, reduceTty, renderPlain, ttyFrame, TtyPainter } from '../../src/cli/progress/index.js';

const events: BuildEvent[] = [
  { type: 'build.started', time: 0, buildId: 'b', target: 'final', vertices: 3 },
  { type: 'vertex.cached', vertex: 'v1', time: 100, name: '[base 1/2] COPY a /a' },
  { type: 'vertex.started', vertex: 'v2', time: 200, name: '[a 1/1] RUN make', inputs: [] },
  { type: 'vertex.started', vertex: 'v3', time: 250, name: '[b 1/1] RUN make', inputs: [] },
  { type: 'vertex.log', vertex: 'v2', time: 700, stream: 'stdout', data: 'cc -c x.c\ncc -c ' },
  { type: 'vertex.log', vertex: 'v2', time: 900, stream: 'stdout', data: 'y.c\n' },
  { type: 'vertex.completed', vertex: 'v2', time: 1400, durationMs: 1200 },
  { type: 'vertex.log', vertex: 'v3', time: 1500, stream: 'stderr', data: 'boom' },
  { type: 'vertex.failed', vertex: 'v3', time: 1600, durationMs: 1350, error: 'process "/bin/sh -c make" did not complete successfully: exit code: 2' },
];

describe('plain progress', () => {
  it('numbers steps, prefixes log lines with the seconds since start, and ends each step', () => {
    let state = initialPlainState;
    let out = '';
    for (const event of events) {
      const [next, text] = renderPlain(state, event);
      state = next;
      out += text;
    }
    assert.equal(out, [
      '',
      '#1 [base 1/2] COPY a /a',
      '#1 CACHED',
      '',
      '#2 [a 1/1] RUN make',
      '',
      '#3 [b 1/1] RUN make',
      '#2 0.5 cc -c x.c',
      '#2 0.7 cc -c y.c',
      '#2 DONE 1.2s',
      '#3 1.4 boom',
      '#3 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2',
      '',
    ].join('\n'));
  });
});

describe('tty progress', () => {
  it('shows running steps with timers and log tails at once, collapsing finished ones', () => {
    let state = initialTtyState;
    for (const event of events.slice(0, 5)) state = reduceTty(state, event);
    const frame = ttyFrame(state, 1000, 80);
    assert.match(frame[0] ?? '', /^\[\+\] Building 1\.0s \(1\/3\)$/);
    assert.match(frame[1] ?? '', /^ => CACHED \[base 1\/2\] COPY a \/a +0\.0s$/);
    assert.match(frame[2] ?? '', /^ => \[a 1\/1\] RUN make +0\.8s$/);
    assert.equal(frame[3], ' => => # cc -c x.c');
    assert.equal(frame[4], ' => => # cc -c ');
    assert.match(frame[5] ?? '', /^ => \[b 1\/1\] RUN make +0\.8s$/);
    for (const event of events.slice(5)) state = reduceTty(state, event);
    const after = ttyFrame(state, 2000, 80);
    assert.match(after[2] ?? '', /^ => \[a 1\/1\] RUN make +1\.2s$/);
    assert.ok(!after.some((l) => l.includes('cc -c x.c')), 'finished steps collapse');
    assert.match(after[3] ?? '', /^ => ERROR \[b 1\/1\] RUN make/);
    assert.equal(after[4], ' => => # boom');
  });

  it('redraws only changed lines', () => {
    let written = '';
    const painter = new TtyPainter((t) => { written += t; });
    painter.paint(['a', 'b']);
    written = '';
    painter.paint(['a', 'c']);
    assert.equal(written, '\x1b[2A\r\x1b[1B\r\x1b[2Kc\n');
  });
});

const digest = `sha256:${'ab'.repeat(32)}`;
const transfer = { direction: 'pull', ref: '127.0.0.1:5000/library/busybox', digest } as const;
const transferEvents: BuildEvent[] = [
  { type: 'transfer.started', time: 1000, ...transfer, kind: 'layer', total: 2_100_000 },
  { type: 'registry.retry', time: 1100, what: `GET blob 127.0.0.1:5000/library/busybox@${digest}`, reason: 'fetch failed: other side closed', attempt: 1, attempts: 5, delayMs: 500 },
  { type: 'transfer.progress', time: 1700, ...transfer, current: 1_050_000, total: 2_100_000 },
  { type: 'transfer.completed', time: 2300, ...transfer, kind: 'layer', outcome: 'done', bytes: 2_100_000, total: 2_100_000, durationMs: 1300 },
  { type: 'transfer.completed', time: 2400, direction: 'push', ref: '127.0.0.1:5000/app', digest: `sha256:${'cd'.repeat(32)}`, kind: 'config', outcome: 'exists', bytes: 0, total: 1500, durationMs: 0 },
];

describe('transfers and retries', () => {
  it('plain: a line per finished transfer and per retry, with the reason', () => {
    let state = initialPlainState;
    let out = '';
    for (const event of transferEvents) {
      const [next, text] = renderPlain(state, event);
      state = next;
      out += text;
    }
    assert.equal(out, [
      'RETRY: GET blob 127.0.0.1:5000/library/busybox@abababababab: fetch failed: other side closed, retry 1 of 4 in 0.5 s',
      'pull 127.0.0.1:5000/library/busybox@abababababab: layer done, 2.10MB in 1.3s',
      'push 127.0.0.1:5000/app@cdcdcdcdcdcd: config already exists (1.50kB)',
      '',
    ].join('\n'));
  });

  it('tty: a running transfer shows bytes done of total, a finished one its outcome; retries are listed', () => {
    let state = initialTtyState;
    for (const event of transferEvents.slice(0, 3)) state = reduceTty(state, event);
    const frame = ttyFrame(state, 2000, 120);
    assert.ok(frame.some((l) => /^ => pull 127\.0\.0\.1:5000\/library\/busybox@abababababab layer 1\.05MB \/ 2\.10MB +1\.0s$/.test(l)), frame.join('\n'));
    assert.ok(frame.some((l) => l.startsWith('RETRY: GET blob') && l.includes('other side closed, retry 1 of 4 in 0.5 s')), frame.join('\n'));
    for (const event of transferEvents.slice(3)) state = reduceTty(state, event);
    const after = ttyFrame(state, 3000, 120);
    assert.ok(after.some((l) => /^ => pull \S+@abababababab layer 2\.10MB done +1\.3s$/.test(l)), after.join('\n'));
    assert.ok(after.some((l) => /^ => push 127\.0\.0\.1:5000\/app@cdcdcdcdcdcd config already exists +0\.0s$/.test(l)), after.join('\n'));
  });
});

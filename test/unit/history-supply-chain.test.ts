/**
 * History schema 2: supply-chain facts (from the attestations, overridden by the pipeline's
 * `supplyChain`), every plan step of a cached build, base-image pulls and push bytes; a database of
 * schema 1 migrates with its records intact.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Database } from '../../src/db/index.js';
import { RecordingSink, type BuildEvent } from '../../src/events/index.js';
import { HISTORY_MIGRATIONS, HISTORY_SCHEMA_OWNER, HistoryRecorder, HistoryStore, historyStats, type BuildRequest } from '../../src/history/index.js';

const V = (n: number): string => 'sha256:' + String(n).repeat(64);
const REQUEST: BuildRequest = {
  project: '/src/app', context: '/src/app', dockerfile: '/src/app/Dockerfile', platform: 'linux/amd64',
  facts: { buildArgs: [], secrets: [], ssh: [], tags: [], outputs: [], noCache: false, push: false },
};
const SPDX = {
  spdxVersion: 'SPDX-2.3',
  packages: [
    { SPDXID: 'SPDXRef-DocumentRoot-Image', name: 'image', licenseDeclared: 'NOASSERTION', externalRefs: [{ referenceType: 'purl', referenceLocator: 'pkg:oci/app' }] },
    { SPDXID: 'SPDXRef-Package-deb-libc', name: 'libc6', licenseDeclared: 'LGPL-2.1-or-later', externalRefs: [{ referenceType: 'purl', referenceLocator: 'pkg:deb/debian/libc6@2.36' }] },
    { SPDXID: 'SPDXRef-Package-npm-x', name: 'x', licenseDeclared: 'NOASSERTION', externalRefs: [{ referenceType: 'purl', referenceLocator: 'pkg:npm/x@1' }] },
    { SPDXID: 'SPDXRef-Package-binary-y', name: 'y', licenseDeclared: 'NOASSERTION' },
  ],
  relationships: [{ spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: 'SPDXRef-DocumentRoot-Image' }],
};

function run(db: Database, events: readonly BuildEvent[], tell: (r: HistoryRecorder) => void): RecordingSink {
  const next = new RecordingSink();
  const recorder = new HistoryRecorder({ open: () => new HistoryStore(db), request: REQUEST, next });
  tell(recorder);
  for (const event of events) recorder.emit(event);
  return next;
}

const completed: BuildEvent = { type: 'build.completed', time: 5000, durationMs: 4000, executed: 0, cached: 1, image: { digest: V(9), configDigest: V(8), size: 100 } };

describe('history: supply-chain facts, plan steps, pulls', () => {
  it('takes SBOM and provenance presence and SBOM completeness from the attestations; the pipeline\'s facts override them', () => {
    using db = Database.open(':memory:');
    const events: BuildEvent[] = [{ type: 'build.started', time: 1000, buildId: 's1', target: '', vertices: 0 }, completed];
    run(db, events, (r) => r.attestations([{ kind: 'sbom', predicate: SPDX }, { kind: 'provenance', predicate: {} }]));
    const store = new HistoryStore(db);
    // The described root is not a package: 3 packages, 2 with a purl, 1 with a license.
    assert.deepEqual(store.get('s1')?.build.supplyChain, { sbom: true, provenance: true, signed: false, sbomPackages: { total: 3, purl: 2, license: 1 } });

    run(db, [{ ...events[0], buildId: 's2' } as BuildEvent, completed], (r) => {
      r.attestations([{ kind: 'provenance', predicate: {} }]);
      r.supplyChain({ sbom: false, provenance: true, signed: true, vulns: { hasData: true, counts: { CRITICAL: 1, HIGH: 0, MEDIUM: 2, LOW: 0, UNKNOWN: 0 } }, secrets: 3 });
    });
    assert.deepEqual(store.get('s2')?.build.supplyChain, { sbom: false, provenance: true, signed: true, vulns: { hasData: true, counts: { CRITICAL: 1, HIGH: 0, MEDIUM: 2, LOW: 0, UNKNOWN: 0 } }, secrets: 3 });

    // No attestation asked for: known to be absent. A failed build has no facts (unknown).
    run(db, [{ ...events[0], buildId: 's3' } as BuildEvent, completed], (r) => r.attestations([]));
    assert.deepEqual(store.get('s3')?.build.supplyChain, { sbom: false, provenance: false, signed: false });
    run(db, [{ ...events[0], buildId: 's4' } as BuildEvent, { type: 'build.failed', time: 2000, durationMs: 1000, error: 'x', code: 'BUILD_STEP_FAILED' }], (r) => r.attestations([]));
    assert.equal(store.get('s4')?.build.supplyChain, undefined);
    const stats = historyStats(store, {});
    assert.deepEqual([stats.sbom.coverage.numerator, stats.sbom.coverage.denominator], [1, 3]);
    assert.deepEqual([stats.provenanceCoverage.numerator, stats.signatureCoverage.numerator], [2, 1]);
    assert.equal(stats.vulnerabilities?.id, 's2');
  });

  it('a successful build records every planned step: those the solver did not visit as cached', () => {
    using db = Database.open(':memory:');
    const events: BuildEvent[] = [
      { type: 'build.started', time: 1000, buildId: 'c1', target: '', vertices: 0 },
      { type: 'vertex.cached', time: 1001, vertex: V(3), name: '[2/3] RUN make', stage: 'build' },
      completed,
    ];
    run(db, events, (r) => r.planned([
      { vertex: V(1), name: '[1/3] FROM debian', stage: 'build' },
      { vertex: V(2), name: '[2/3] COPY . .', stage: 'build' },
      { vertex: V(3), name: '[2/3] RUN make', stage: 'build' },
    ]));
    const found = new HistoryStore(db).get('c1');
    assert.deepEqual(found?.steps.map((s) => [s.seq, s.name, s.status, s.stage]), [[1, '[2/3] RUN make', 'cached', 'build'], [2, '[1/3] FROM debian', 'cached', 'build'], [3, '[2/3] COPY . .', 'cached', 'build']]);
    assert.deepEqual(found?.build.steps, { total: 3, executed: 0, cached: 3 });

    // A failed build does not claim the steps it never reached.
    run(db, [{ ...events[0], buildId: 'c2' } as BuildEvent, { type: 'vertex.started', time: 1001, vertex: V(1), name: 'FROM debian', inputs: [] }, { type: 'build.failed', time: 1100, durationMs: 100, error: 'pull failed' }],
      (r) => r.planned([{ vertex: V(1), name: 'FROM debian' }, { vertex: V(2), name: 'RUN make' }]));
    assert.equal(new HistoryStore(db).get('c2')?.steps.length, 1);
  });

  it('records base-image pulls per repository (first start to last completion) and bytes pushed; blobs already present and cache blobs are not pulls', () => {
    using db = Database.open(':memory:');
    const pull = (ref: string, digest: number, time: number, durationMs: number, bytes: number, kind: 'layer' | 'blob' | 'manifest' = 'layer', outcome: 'done' | 'exists' = 'done'): BuildEvent =>
      ({ type: 'transfer.completed', time, direction: 'pull', ref, digest: V(digest), kind, outcome, bytes, total: bytes, durationMs });
    run(db, [
      { type: 'build.started', time: 1000, buildId: 'p1', target: '', vertices: 0 },
      pull('reg/debian', 1, 1100, 50, 10, 'manifest'),
      pull('reg/debian', 2, 1400, 300, 1000),
      pull('reg/debian', 3, 1300, 150, 500),
      pull('reg/alpine', 4, 1250, 200, 300),
      pull('reg/alpine', 5, 1900, 0, 0, 'layer', 'exists'),
      pull('reg/cache', 6, 1500, 100, 100, 'blob'),
      { type: 'transfer.completed', time: 2000, direction: 'push', ref: 'reg/app', digest: V(7), kind: 'layer', outcome: 'done', bytes: 4096, total: 4096, durationMs: 10 },
      { type: 'transfer.completed', time: 2001, direction: 'push', ref: 'reg/app', digest: V(8), kind: 'layer', outcome: 'exists', bytes: 0, total: 77, durationMs: 1 },
      completed,
    ], () => undefined);
    const found = new HistoryStore(db).get('p1');
    assert.deepEqual(found?.pulls, [
      { seq: 1, ref: 'reg/debian', startedAt: 1050, durationMs: 350, bytes: 1510, blobs: 3 },
      { seq: 2, ref: 'reg/alpine', startedAt: 1050, durationMs: 200, bytes: 300, blobs: 1 },
    ]);
    assert.equal(found?.build.pushBytes, 4096);
    assert.equal(historyStats(new HistoryStore(db), {}).pullLatencyMs.p50, 275);
  });

  it('a schema-1 history migrates to the current schema with its records intact (facts unknown, not false)', () => {
    using db = Database.open(':memory:');
    db.migrate(HISTORY_SCHEMA_OWNER, HISTORY_MIGRATIONS.slice(0, 1));
    db.writeTransaction(() => db.command(`INSERT INTO history_builds (id, project, context, dockerfile, target, platform, started_at, ended_at, status, request, steps_total, steps_executed, steps_cached, warnings)
      VALUES ('old1', '/p', '/p', 'Dockerfile', '', 'linux/amd64', 1, 2, 'success', '{"buildArgs":[],"secrets":[],"ssh":[],"tags":[],"outputs":[],"noCache":false,"push":false}', 1, 1, 0, 0)`)({}));
    assert.equal(db.schemaVersion(HISTORY_SCHEMA_OWNER), 1);
    const store = new HistoryStore(db);
    assert.equal(db.schemaVersion(HISTORY_SCHEMA_OWNER), HISTORY_MIGRATIONS.length);
    const old = store.get('old1');
    assert.equal(old?.build.status, 'success');
    assert.equal(old?.build.supplyChain, undefined);
    assert.deepEqual(old?.pulls, []);
    assert.equal(historyStats(store, {}).provenanceCoverage.denominator, 0);
    assert.equal(store.setPromoted('old1', true), true);
    assert.equal(store.get('old1')?.build.promoted, true);
    assert.equal(store.setPromoted('nope', true), false);
  });
});

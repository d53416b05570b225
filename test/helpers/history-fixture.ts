/** A fixed build history for the SLI and metrics tests (numbers computed by hand in test/unit/history-stats.test.ts). */
import type { HistoryStore, BuildRecord, PullRecord, SupplyChainRecord } from '../../src/history/index.js';

export interface Fixture {
  readonly id: string;
  readonly project: string;
  readonly target: string;
  readonly start: number;
  readonly end: number;
  readonly status: BuildRecord['status'];
  readonly code?: string;
  readonly steps: [total: number, cached: number];
  readonly size?: number;
  readonly supplyChain?: SupplyChainRecord;
  readonly promoted?: boolean;
  readonly pulls?: readonly number[];
}

export const counts = (c: number, h: number, m: number, l: number, u: number) => ({ CRITICAL: c, HIGH: h, MEDIUM: m, LOW: l, UNKNOWN: u });
export const A = 'git@example.com:team/a.git';
export const B = '/src/b';
export const FIXTURES: readonly Fixture[] = [
  { id: 'a1', project: A, target: 'app', start: 0, end: 10_000, status: 'success', steps: [4, 0], size: 1000, supplyChain: { sbom: true, provenance: true, signed: false, sbomPackages: { total: 10, purl: 8, license: 5 } }, pulls: [1000] },
  { id: 'b1', project: B, target: '', start: 50_000, end: 90_000, status: 'success', steps: [2, 1], size: 500, pulls: [200, 400] },
  { id: 'a2', project: A, target: 'app', start: 100_000, end: 130_000, status: 'failed', code: 'BUILD_STEP_FAILED', steps: [4, 2] },
  { id: 'b2', project: B, target: '', start: 150_000, end: 160_000, status: 'failed', steps: [2, 0] },
  { id: 'a3', project: A, target: 'app', start: 200_000, end: 205_000, status: 'failed', code: 'BUILD_STEP_FAILED', steps: [4, 3] },
  { id: 'b3', project: B, target: '', start: 250_000, end: 300_000, status: 'success', steps: [2, 2], size: 400, supplyChain: { sbom: true, provenance: false, signed: false, sbomPackages: { total: 4, purl: 4, license: 0 } }, promoted: true },
  { id: 'a4', project: A, target: 'app', start: 300_000, end: 320_000, status: 'success', steps: [4, 3], size: 1500, supplyChain: { sbom: false, provenance: true, signed: true, vulns: { hasData: true, counts: counts(1, 2, 3, 0, 1) } } },
  { id: 'a5', project: A, target: 'app', start: 400_000, end: 401_000, status: 'cancelled', code: 'ABORTED', steps: [4, 4] },
  { id: 'a6', project: A, target: 'app', start: 500_000, end: 530_000, status: 'failed', code: 'DOCKERFILE_PARSE', steps: [1, 0] },
];

export function saveFixture(store: HistoryStore, f: Fixture): void {
  const pulls: PullRecord[] = (f.pulls ?? []).map((ms, i) => ({ seq: i + 1, ref: `registry.test/base${i}`, startedAt: f.start, durationMs: ms, bytes: 1000, blobs: 3 }));
  store.save({
    build: {
      id: f.id, project: f.project, context: f.project, dockerfile: 'Dockerfile', target: f.target, platform: 'linux/amd64', startedAt: f.start, endedAt: f.end, status: f.status,
      ...(f.status === 'success' ? {} : { error: { message: 'it broke', ...(f.code === undefined ? {} : { code: f.code }) } }),
      request: { buildArgs: [], secrets: [], ssh: [], tags: [], outputs: [], noCache: false, push: false },
      ...(f.size === undefined ? {} : { image: { digest: 'sha256:' + 'd'.repeat(64), configDigest: 'sha256:' + 'c'.repeat(64), size: f.size } }),
      steps: { total: f.steps[0], executed: f.steps[0] - f.steps[1], cached: f.steps[1] },
      warnings: 0,
      ...(f.supplyChain === undefined ? {} : { supplyChain: f.supplyChain }),
      ...(f.promoted === undefined ? {} : { promoted: f.promoted }),
    },
    steps: [], warnings: [], logs: new Map(), pulls,
  });
}

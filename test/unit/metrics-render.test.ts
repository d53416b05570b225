/**
 * The Prometheus exposition of the history (src/metrics): values from the fixed history of
 * history-stats.test.ts, and the text accepted by `promtool check metrics` (Debian's prometheus).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { Database } from '../../src/db/index.js';
import { HistoryStore } from '../../src/history/index.js';
import { METRICS, renderMetrics } from '../../src/metrics/index.js';
import { A, FIXTURES, saveFixture } from '../helpers/history-fixture.js';

const PROMTOOL = '/usr/bin/promtool';

function sample(body: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    const have = labelText === '' ? [] : labelText.split(/,(?=[a-z_]+=")/);
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics: the exposition of the history', () => {
  it('renders builds, steps, durations, image sizes, attestations, vulnerabilities, pulls; promtool accepts it', async () => {
    using db = Database.open(':memory:');
    const store = new HistoryStore(db);
    for (const f of FIXTURES) saveFixture(store, f);
    const { contentType, body } = await renderMetrics(store);
    assert.match(contentType, /^text\/plain; version=0\.0\.4/);
    assert.equal(sample(body, 'stagecraft_builds_total', { project: A, target: 'app', status: 'failed', error_code: 'BUILD_STEP_FAILED' }), 2);
    assert.equal(sample(body, 'stagecraft_builds_total', { project: '/src/b', target: '', status: 'failed', error_code: '' }), 1);
    assert.equal(sample(body, 'stagecraft_build_steps_total', { project: A, kind: 'total' }), 21);
    assert.equal(sample(body, 'stagecraft_build_steps_total', { project: A, kind: 'cached' }), 12);
    assert.equal(sample(body, 'stagecraft_build_cache_hit_ratio', { project: A }), 12 / 21);
    // a1 10 s and a4 20 s succeeded: both within the 30 s bucket, one within 10 s.
    assert.equal(sample(body, 'stagecraft_build_duration_seconds_bucket', { le: '10', project: A, status: 'success' }), 1);
    assert.equal(sample(body, 'stagecraft_build_duration_seconds_bucket', { le: '30', project: A, status: 'success' }), 2);
    assert.equal(sample(body, 'stagecraft_build_duration_seconds_sum', { project: A, status: 'success' }), 30);
    assert.equal(sample(body, 'stagecraft_image_size_bytes', { project: A, target: 'app' }), 1500);
    assert.equal(sample(body, 'stagecraft_image_attested', { project: A, target: 'app', kind: 'provenance' }), 1);
    assert.equal(sample(body, 'stagecraft_image_attested', { project: '/src/b', target: '', kind: 'provenance' }), 0);
    assert.equal(sample(body, 'stagecraft_image_vulnerabilities', { project: A, target: 'app', severity: 'high' }), 2);
    assert.equal(sample(body, 'stagecraft_base_image_pull_duration_seconds_count', { project: '/src/b' }), 2);

    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: body, encoding: 'utf8' });
    assert.equal(check.status, 0, `promtool check metrics: ${check.stdout}${check.stderr}`);
    // promtool lints: a broken name or help text would be reported here.
    assert.equal(check.stdout.trim(), '', check.stdout);
  });

  it('promtool rejects a broken exposition (the check can fail)', () => {
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: '# TYPE x counter\nx{a="1" 3\n', encoding: 'utf8' });
    assert.notEqual(check.status, 0);
  });

  it('docs/metrics.md lists every metric', async () => {
    const doc = await readFile(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
    for (const metric of Object.values(METRICS)) assert.ok(doc.includes(`\`${metric.name}\``), `docs/metrics.md does not list ${metric.name}`);
  });
});

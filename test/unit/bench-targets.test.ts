import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { evaluateTargets, parseRssLog, parseSummary, renderTargets, TARGETS } from '../../bench/targets.js';

const HEADER = 'builder\tworkload\tmode\truns\tmin_s\tmedian_s\tmax_s\tcpu_median_s\timage_MB\tpushed_MB';
const tsv = (builder: string, rows: [string, string, number][]): string =>
  [HEADER, ...rows.map(([w, m, median]) => `${builder}\t${w}\t${m}\t3\t${median}\t${median}\t${median}\t1.0\t10.0\t-`)].join('\n');

describe('bench targets (issue 18)', () => {
  const sc = parseSummary(tsv('stagecraft', [
    ['w1-c-app', 'cold', 18], // 18/20 = 0.90: exactly at the limit, met
    ['w1-c-app', 'incr', 17], // 17/20 = 0.85 > 0.8: not met
    ['w1-c-app', 'warm', 0.2], // 0.2/0.25 = 0.8: met
    ['w4-big-layer', 'cold', 10],
    ['w4-big-layer', 'push', 7.2], // 7.2/20 = 0.36 > 0.35: not met
  ]));
  const bk = parseSummary(tsv('docker', [
    ['w1-c-app', 'cold', 20],
    ['w1-c-app', 'incr', 20],
    ['w1-c-app', 'warm', 0.25],
    ['w4-big-layer', 'cold', 9],
    ['w4-big-layer', 'push', 20],
  ]));
  const rss = parseRssLog([
    '102400:node /x/dist/cli.js --root /r build -f /work/shared/bench/w1-c-app/Dockerfile -t t /ctx',
    '153600:node /x/dist/cli.js --root /r build -f /work/shared/bench/w1-c-app/Dockerfile -t t /ctx',
    '307200:node /x/dist/cli.js --root /r build -f /work/s/bench/workloads/w4-big-layer/Dockerfile -t t /ctx',
    '999999:node /x/dist/cli.js --root /r prune --all --force',
  ].join('\n'));

  it('reads the harness summary and the peak RSS of build commands only', () => {
    assert.equal(sc.get('w1-c-app cold')?.median, 18);
    assert.equal(rss.get('w1-c-app'), 150);
    assert.equal(rss.get('w4-big-layer'), 300);
    assert.equal(rss.size, 2);
  });

  it('marks each target met or not met against its limit, and what was not run as not measured', () => {
    const [w1, w4] = evaluateTargets(sc, bk, rss);
    assert.equal(w1?.workload, 'w1-c-app');
    assert.deepEqual(w1?.verdicts.get('cold'), { state: 'met', value: 0.9 });
    assert.deepEqual(w1?.verdicts.get('incr'), { state: 'not met', value: 0.85 });
    assert.deepEqual(w1?.verdicts.get('warm'), { state: 'met', value: 0.8 });
    assert.deepEqual(w1?.verdicts.get('push'), { state: 'n/a' }); // only w4 has the push target
    assert.deepEqual(w1?.verdicts.get('rss'), { state: 'met', value: 150 });
    assert.equal(w4?.verdicts.get('cold')?.state, 'not met'); // 10/9
    assert.deepEqual(w4?.verdicts.get('incr'), { state: 'not measured' });
    assert.equal(w4?.verdicts.get('push')?.state, 'not met');
    assert.ok(Math.abs((w4?.verdicts.get('push') as { value: number }).value - 0.36) < 1e-9);
    assert.deepEqual(w4?.verdicts.get('rss'), { state: 'not met', value: 300 }); // < 300 is strict
  });

  it('does not count a ratio whose BuildKit median is missing or zero as met', () => {
    const bkZero = parseSummary(tsv('docker', [['w1-c-app', 'cold', 0]]));
    const [w1] = evaluateTargets(sc, bkZero, new Map());
    assert.deepEqual(w1?.verdicts.get('cold'), { state: 'not measured' });
    assert.deepEqual(w1?.verdicts.get('rss'), { state: 'not measured' });
  });

  it('renders one row per workload with every target, and counts what was met', () => {
    const table = renderTargets(evaluateTargets(sc, bk, rss));
    const [head] = table.split('\n');
    assert.equal(head, `| workload | ${TARGETS.map((t) => t.label).join(' | ')} |`);
    assert.match(table, /^\| w1-c-app \| 0\.90× met \| \*\*0\.85× not met\*\* \| 0\.80× met \| — \| 150 MB met \|$/m);
    assert.match(table, /^\| w4-big-layer \| \*\*1\.11× not met\*\* \| not measured \| not measured \| \*\*0\.36× not met\*\* \| \*\*300 MB not met\*\* \|$/m);
    assert.match(table, /^3 of 7 measured targets met; 2 not measured in this run\.$/m);
  });
});

describe('bench/combine.ts', () => {
  it('writes the medians and the targets into the document between its markers, keeping the rest', () => {
    const dir = mkdtempSync(join(tmpdir(), 'combine-'));
    try {
      const stamp = join(dir, '20261206-220000');
      mkdirSync(`${stamp}-stagecraft`);
      mkdirSync(`${stamp}-docker`);
      mkdirSync(`${stamp}-docker-push`);
      mkdirSync(`${stamp}-stagecraft-push`);
      writeFileSync(`${stamp}-stagecraft/summary.tsv`, tsv('stagecraft', [['w4-big-layer', 'cold', 8]]));
      writeFileSync(`${stamp}-docker/summary.tsv`, tsv('docker', [['w4-big-layer', 'cold', 10]]));
      writeFileSync(`${stamp}-stagecraft-push/summary.tsv`, tsv('stagecraft', [['w4-big-layer', 'push', 3]]));
      writeFileSync(`${stamp}-docker-push/summary.tsv`, tsv('docker', [['w4-big-layer', 'push', 12]]));
      writeFileSync(`${stamp}-stagecraft/rss.log`, '204800:node cli.js build -f /b/w4-big-layer/Dockerfile -t x /c\n');
      const doc = join(dir, 'performance.md');
      writeFileSync(doc, '# Performance\n\nintro\n<!-- bench:begin (generated: do not edit by hand) -->\nold table\n<!-- bench:end -->\n\n## Analysis\nkept\n');
      execFileSync(process.execPath, ['--import', 'tsx', 'bench/combine.ts', stamp, '--doc', doc], { stdio: 'pipe' });
      const text = readFileSync(doc, 'utf8');
      assert.ok(text.startsWith('# Performance\n\nintro\n<!-- bench:begin'));
      assert.ok(text.endsWith('<!-- bench:end -->\n\n## Analysis\nkept\n'));
      assert.doesNotMatch(text, /old table/);
      assert.match(text, /^\| w4-big-layer \| cold \| 8\.00 \| 10\.00 \| 0\.80 \|/m);
      assert.match(text, /^\| w4-big-layer \| 0\.80× met \| not measured \| not measured \| 0\.25× met \| 200 MB met \|$/m);
      const written = JSON.parse(readFileSync(`${stamp}.json`, 'utf8')) as { targets: { push: { state: string } }[] };
      assert.equal(written.targets[0]?.push.state, 'met');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

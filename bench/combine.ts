// Prints one table from a bench run's per-builder summaries: stagecraft's median beside BuildKit's and
// buildah's, with the ratios, and stagecraft's peak RSS per workload; writes the same as JSON.
//   node --import tsx bench/combine.ts bench/results/STAMP
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

interface Row { workload: string; mode: string; median: number; cpu: string; imageMb: string; pushedMb: string }

const [stampDir] = process.argv.slice(2);
if (stampDir === undefined) {
  process.stderr.write('usage: combine.ts bench/results/STAMP\n');
  process.exit(2);
}

function readSummary(builder: string): Map<string, Row> {
  const path = `${stampDir}-${builder}/summary.tsv`;
  const rows = new Map<string, Row>();
  if (!existsSync(path)) return rows;
  const [header, ...lines] = readFileSync(path, 'utf8').trim().split('\n');
  const cols = (header ?? '').split('\t');
  const at = (cells: string[], name: string): string => cells[cols.indexOf(name)] ?? '';
  for (const line of lines) {
    const cells = line.split('\t');
    const row = { workload: at(cells, 'workload'), mode: at(cells, 'mode'), median: Number(at(cells, 'median_s')), cpu: at(cells, 'cpu_median_s'), imageMb: at(cells, 'image_MB'), pushedMb: at(cells, 'pushed_MB') };
    rows.set(`${row.workload} ${row.mode}`, row);
  }
  return rows;
}

/** Peak RSS (MB) of stagecraft build processes per workload, from the wrapper's log. */
function readRss(): Map<string, number> {
  const peaks = new Map<string, number>();
  const path = `${stampDir}-stagecraft/rss.log`;
  if (!existsSync(path)) return peaks;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^(\d+):.* build .*-f \S*\/(w\d-[a-z-]+)\/Dockerfile/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    peaks.set(match[2], Math.max(peaks.get(match[2]) ?? 0, Number(match[1]) / 1024));
  }
  return peaks;
}

const sc = readSummary('stagecraft');
const bk = readSummary('docker');
const ba = readSummary('buildah');
const rss = readRss();
const fmt = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(2));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? '-' : (a / b).toFixed(2));
const table = [...sc.values()].map((row) => {
  const key = `${row.workload} ${row.mode}`;
  return {
    workload: row.workload,
    mode: row.mode,
    stagecraft: row.median,
    buildkit: bk.get(key)?.median,
    ratioBuildkit: ratio(row.median, bk.get(key)?.median),
    buildah: ba.get(key)?.median,
    ratioBuildah: ratio(row.median, ba.get(key)?.median),
    peakRssMb: rss.get(row.workload),
  };
});
const lines = ['| workload | mode | stagecraft s | BuildKit s | ratio | buildah s | ratio | stagecraft peak RSS MB |', '|---|---|---|---|---|---|---|---|'];
for (const t of table) lines.push(`| ${t.workload} | ${t.mode} | ${fmt(t.stagecraft)} | ${fmt(t.buildkit)} | ${t.ratioBuildkit} | ${fmt(t.buildah)} | ${t.ratioBuildah} | ${t.peakRssMb === undefined ? '-' : t.peakRssMb.toFixed(0)} |`);
process.stdout.write(`${lines.join('\n')}\n`);
writeFileSync(`${stampDir}.json`, `${JSON.stringify({ date: new Date().toISOString(), rows: table }, null, 2)}\n`);
process.stdout.write(`json: ${stampDir}.json\n`);

// Issue 18's targets, checked against one `npm run bench` run: per workload, the median ratio
// stagecraft / BuildKit for cold, incremental and warm builds, the w4 build + push, and stagecraft's
// peak RSS, each marked met / not met. Pure functions; bench/combine.ts reads the files.

export interface SummaryRow { workload: string; mode: string; median: number; cpu: string; imageMb: string; pushedMb: string }

/** The harness's summary.tsv (../shared/bench/run.sh): rows keyed by "workload mode". */
export function parseSummary(text: string): Map<string, SummaryRow> {
  const rows = new Map<string, SummaryRow>();
  const [header, ...lines] = text.trim().split('\n');
  const cols = (header ?? '').split('\t');
  const at = (cells: string[], name: string): string => cells[cols.indexOf(name)] ?? '';
  for (const line of lines) {
    if (line.trim() === '') continue;
    const cells = line.split('\t');
    const row = { workload: at(cells, 'workload'), mode: at(cells, 'mode'), median: Number(at(cells, 'median_s')), cpu: at(cells, 'cpu_median_s'), imageMb: at(cells, 'image_MB'), pushedMb: at(cells, 'pushed_MB') };
    rows.set(`${row.workload} ${row.mode}`, row);
  }
  return rows;
}

/** Peak RSS (MB) of stagecraft builds per workload, from GNU time's "KB:command" lines (run-bench.sh). */
export function parseRssLog(text: string): Map<string, number> {
  const peaks = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\d+):.* build .*-f \S*\/(w\d+-[a-z0-9-]+)\/Dockerfile/.exec(line);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    peaks.set(match[2], Math.max(peaks.get(match[2]) ?? 0, Number(match[1]) / 1024));
  }
  return peaks;
}

export type TargetName = 'cold' | 'incr' | 'warm' | 'push' | 'rss';

export interface Target {
  name: TargetName;
  label: string;
  /** Ratio targets compare stagecraft / BuildKit of this harness mode; rss compares megabytes. */
  kind: 'ratio' | 'rss';
  mode?: string;
  limit: number;
  /** `le`: value ≤ limit; `lt`: value < limit. */
  op: 'le' | 'lt';
  /** Workloads the target applies to (all when absent). */
  only?: string;
}

export const TARGETS: readonly Target[] = [
  { name: 'cold', label: 'cold ≤ 0.9×', kind: 'ratio', mode: 'cold', limit: 0.9, op: 'le' },
  { name: 'incr', label: 'incremental ≤ 0.8×', kind: 'ratio', mode: 'incr', limit: 0.8, op: 'le' },
  { name: 'warm', label: 'warm ≤ 1.0×', kind: 'ratio', mode: 'warm', limit: 1.0, op: 'le' },
  { name: 'push', label: 'w4 build + push ≤ 0.35×', kind: 'ratio', mode: 'push', limit: 0.35, op: 'le', only: 'w4-big-layer' },
  { name: 'rss', label: 'peak RSS < 300 MB', kind: 'rss', limit: 300, op: 'lt' },
];

export type Verdict = { state: 'met' | 'not met'; value: number } | { state: 'not measured' } | { state: 'n/a' };

export interface WorkloadTargets { workload: string; verdicts: Map<TargetName, Verdict> }

export function judge(target: Target, value: number): Verdict {
  const ok = target.op === 'le' ? value <= target.limit : value < target.limit;
  return { state: ok ? 'met' : 'not met', value };
}

/**
 * Every target for every workload stagecraft ran: a ratio needs both medians (from the same run),
 * the RSS needs stagecraft's peak; what was not run is `not measured`, never met.
 */
export function evaluateTargets(stagecraft: Map<string, SummaryRow>, buildkit: Map<string, SummaryRow>, rss: Map<string, number>): WorkloadTargets[] {
  const workloads = [...new Set([...stagecraft.values()].map((r) => r.workload))].sort();
  return workloads.map((workload) => {
    const verdicts = new Map<TargetName, Verdict>();
    for (const target of TARGETS) {
      if (target.only !== undefined && target.only !== workload) {
        verdicts.set(target.name, { state: 'n/a' });
        continue;
      }
      if (target.kind === 'rss') {
        const peak = rss.get(workload);
        verdicts.set(target.name, peak === undefined ? { state: 'not measured' } : judge(target, peak));
        continue;
      }
      const sc = stagecraft.get(`${workload} ${target.mode ?? ''}`)?.median;
      const bk = buildkit.get(`${workload} ${target.mode ?? ''}`)?.median;
      const usable = (n: number | undefined): n is number => n !== undefined && Number.isFinite(n) && n > 0;
      verdicts.set(target.name, usable(sc) && usable(bk) ? judge(target, sc / bk) : { state: 'not measured' });
    }
    return { workload, verdicts };
  });
}

function cell(target: Target, verdict: Verdict | undefined): string {
  if (verdict === undefined || verdict.state === 'not measured') return 'not measured';
  if (verdict.state === 'n/a') return '—';
  const value = target.kind === 'rss' ? `${verdict.value.toFixed(0)} MB` : `${verdict.value.toFixed(2)}×`;
  return verdict.state === 'met' ? `${value} met` : `**${value} not met**`;
}

/** Markdown: one row per workload, one column per target, and a count of what was met. */
export function renderTargets(rows: readonly WorkloadTargets[]): string {
  const lines = [`| workload | ${TARGETS.map((t) => t.label).join(' | ')} |`, `|---|${TARGETS.map(() => '---|').join('')}`];
  let met = 0;
  let judged = 0;
  let unmeasured = 0;
  for (const row of rows) {
    lines.push(`| ${row.workload} | ${TARGETS.map((t) => cell(t, row.verdicts.get(t.name))).join(' | ')} |`);
    for (const v of row.verdicts.values()) {
      if (v.state === 'met') met++;
      if (v.state === 'met' || v.state === 'not met') judged++;
      if (v.state === 'not measured') unmeasured++;
    }
  }
  lines.push('', `${met} of ${judged} measured targets met${unmeasured > 0 ? `; ${unmeasured} not measured in this run` : ''}.`);
  return `${lines.join('\n')}\n`;
}

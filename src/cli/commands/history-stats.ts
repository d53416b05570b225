/**
 * `stagecraft history stats`: the build SLIs (M1–M10, docs/metrics.md) over a window, for a
 * project and target or grouped by them; `stagecraft history annotate`: what a CI knows and the
 * builder cannot (M7: was the image promoted).
 */
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import { historyStats, historyStatsBy, type Distribution, type Ratio, type SliReport } from '../../history/index.js';
import { SEVERITIES } from '../../scan/index.js';
import type { CliIo } from '../main.js';
import { formatBytes, table, withEngine } from './store-context.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * A point in time from a flag: a duration back from `now` (`90m`, `12h`, `7d`, `2w`) or a date
 * (`2026-12-01`, RFC 3339). Epoch ms.
 */
export function parseTimeFlag(flag: string, text: string, now: number): number {
  const ago = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text.trim());
  if (ago !== null) return now - Number(ago[1]) * (UNITS[ago[2] ?? ''] ?? Number.NaN);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text.trim())) {
    const time = Date.parse(text.trim());
    if (Number.isFinite(time)) return time;
  }
  throw new StagecraftError('USAGE', `invalid ${flag} "${text}"`, { hint: `give a duration back from now (90m, 12h, 7d, 2w) or a date (2026-12-01, 2026-12-01T08:00:00Z)` });
}

const percent = (r: Ratio): string => (r.value === null ? 'no data' : `${(r.value * 100).toFixed(1)}%`);
const ratioText = (r: Ratio, of: string): string => (r.value === null ? 'no data' : `${percent(r)} (${r.numerator} of ${r.denominator}${of})`);

/** "850ms", "12.3s", "4m 5s", "2h 3m", "1d 4h". */
export function formatMs(ms: number | null): string {
  if (ms === null) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

const distribution = (d: Distribution, what: string): string =>
  (d.count === 0 || d.p50 === null ? 'no data' : `p50 ${formatMs(d.p50)}   p95 ${formatMs(d.p95)}   mean ${formatMs(d.mean)}   (${d.count} ${what})`);

function signedBytes(n: number): string {
  return n < 0 ? `-${formatBytes(-n)}` : `+${formatBytes(n)}`;
}

/** The report as text: one line per SLI, "no data" where the window has none. */
export function statsText(r: SliReport): string {
  const lines: string[] = [];
  const scope = [r.query.project === null ? 'all projects' : `project ${r.query.project}`, ...(r.query.target === null ? [] : [`target ${r.query.target === '' ? '(last stage)' : r.query.target}`])];
  const window = [r.query.sinceMs === null ? '' : `since ${new Date(r.query.sinceMs).toISOString()}`, r.query.untilMs === null ? '' : `until ${new Date(r.query.untilMs).toISOString()}`].filter((s) => s !== '').join(' ');
  lines.push(`Builds: ${r.builds.total} (${r.builds.success} succeeded, ${r.builds.failed} failed, ${r.builds.cancelled} cancelled), ${scope.join(', ')}${window === '' ? '' : `, ${window}`}`);
  const rows: string[][] = [];
  const row = (id: string, name: string, value: string): void => void rows.push([id, name, value]);
  row('M1', 'success rate', ratioText(r.successRate, ' finished builds'));
  row('M2', 'build time', distribution(r.buildTimeMs, 'successful builds'));
  row('M3', 'cache hit rate', ratioText(r.cacheHitRate, ' steps'));
  const size = r.imageSize;
  row('M4', 'image size', size.latest === null ? 'no data' : `${formatBytes(size.latest.bytes)} (build ${size.latest.id})${size.change === null || size.first === null || size.first.id === size.latest.id ? '' : `, ${signedBytes(size.change)} since ${size.first.id}`}`);
  const v = r.vulnerabilities;
  row('M5', 'vulnerabilities', v === null ? 'no data (no build scanned for vulnerabilities)'
    : !v.hasData ? `no data (build ${v.id} was scanned without vulnerability data)`
    : `${SEVERITIES.map((s) => `${s.toLowerCase()} ${v.counts[s]}`).join(', ')} (build ${v.id})`);
  const fix = r.timeToFixMs;
  row('M6', 'time to fix', fix.fixed === 0 && fix.open === 0 ? 'no data (no failure)' : `${fix.fixed === 0 ? 'none fixed yet' : `mean ${formatMs(fix.mean)}   median ${formatMs(fix.median)}   (${fix.fixed} fixed)`}${fix.open > 0 ? `, ${fix.open} still broken` : ''}`);
  row('M7', 'promotion rate', r.promotionRate.status === 'unknown' ? `unknown: ${r.promotionRate.reason}` : ratioText(r.promotionRate.rate, ' annotated builds'));
  row('M8', 'SBOM completeness', r.sbom.coverage.value === null ? 'no data' : `${ratioText(r.sbom.coverage, ' successful builds')}${r.sbom.packages > 0 ? `; of ${r.sbom.packages} packages ${percent(r.sbom.withPurl)} with a purl, ${percent(r.sbom.withLicense)} with a license` : ''}`);
  row('M9', 'base image pulls', distribution(r.pullLatencyMs, 'pulls'));
  row('M10', 'provenance', r.provenanceCoverage.value === null ? 'no data' : `${ratioText(r.provenanceCoverage, ' successful builds')}; signed ${percent(r.signatureCoverage)}`);
  lines.push(table(rows).trimEnd());
  if (r.failures.length > 0) lines.push(`Failures by error code: ${r.failures.map((f) => `${f.code} ${f.count}`).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

/** One row per group: the SLIs that fit a column. */
export function groupsText(groups: ReturnType<typeof historyStatsBy>, by: 'project' | 'target'): string {
  const rows = [[...(by === 'target' ? ['PROJECT', 'TARGET'] : ['PROJECT']), 'BUILDS', 'SUCCESS', 'P50', 'P95', 'CACHE', 'SIZE', 'CVE C/H', 'FIX', 'SBOM', 'PROVENANCE']];
  for (const g of groups) {
    const r = g.report;
    const v = r.vulnerabilities;
    rows.push([
      g.project, ...(by === 'target' ? [g.target === '' ? '(last stage)' : g.target ?? ''] : []),
      String(r.builds.total), percent(r.successRate).replace('no data', '-'), formatMs(r.buildTimeMs.p50), formatMs(r.buildTimeMs.p95),
      percent(r.cacheHitRate).replace('no data', '-'), r.imageSize.latest === null ? '-' : formatBytes(r.imageSize.latest.bytes),
      v === null || !v.hasData ? '-' : `${v.counts.CRITICAL}/${v.counts.HIGH}`, formatMs(r.timeToFixMs.median),
      percent(r.sbom.coverage).replace('no data', '-'), percent(r.provenanceCoverage).replace('no data', '-'),
    ]);
  }
  return table(rows);
}

interface StatsFlags {
  since?: string;
  until?: string;
  project?: string;
  target?: string;
  by?: string;
  json?: boolean;
}

export function registerHistoryStats(history: Command, io: CliIo): void {
  history
    .command('stats')
    .description('the build SLIs (success rate, build time p50/p95, cache hit rate, image size, CVEs, time to fix, SBOM and provenance coverage, pull latency) over a window')
    .option('--since <when>', 'builds started since: a duration back from now (7d, 12h) or a date (2026-12-01)')
    .option('--until <when>', 'builds started before: a duration back from now or a date')
    .option('--project <project>', 'only this project (as `history ls` shows it: the git remote or the context directory)')
    .option('--target <target>', 'only this target stage ("" for the last stage)')
    .option('--by <key>', 'one row per project, or per project and target: project|target')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExamples:\n  stagecraft history stats --since 7d\n  stagecraft history stats --since 30d --by project\n  stagecraft history stats --project git@github.com:acme/app.git --target release --json')
    .action(async (flags: StatsFlags, command: Command) => {
      const now = Date.now();
      const sinceMs = flags.since === undefined ? undefined : parseTimeFlag('--since', flags.since, now);
      const untilMs = flags.until === undefined ? undefined : parseTimeFlag('--until', flags.until, now);
      if (sinceMs !== undefined && untilMs !== undefined && sinceMs >= untilMs) throw new StagecraftError('USAGE', `--since ${flags.since ?? ''} is not before --until ${flags.until ?? ''}`, { hint: 'the window starts at --since and ends at --until' });
      const by = flags.by;
      if (by !== undefined && by !== 'project' && by !== 'target') throw new StagecraftError('USAGE', `invalid --by "${by}"`, { hint: 'use --by project or --by target' });
      const query = { project: flags.project, target: flags.target, sinceMs, untilMs };
      await withEngine(command, async (engine) => {
        const store = await engine.buildHistory();
        if (by === undefined) {
          const report = historyStats(store, query);
          io.stdout(flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : statsText(report));
        } else {
          const groups = historyStatsBy(store, query, by);
          io.stdout(flags.json === true ? `${JSON.stringify(groups, null, 2)}\n` : groupsText(groups, by));
        }
      });
    });

  history
    .command('annotate')
    .description('record what a CI knows about a build: promoted=true|false (the promotion rate SLI, M7)')
    .argument('<ref>', 'build id, prefix, or ^N')
    .argument('<facts...>', 'promoted=true or promoted=false')
    .option('--json', 'print { id, promoted } as JSON')
    .action(async (ref: string, facts: string[], flags: { json?: boolean }, command: Command) => {
      let promoted: boolean | undefined;
      for (const fact of facts) {
        const match = /^promoted=(true|false)$/.exec(fact);
        if (match === null) throw new StagecraftError('USAGE', `unknown annotation "${fact}"`, { hint: 'annotate a build with promoted=true or promoted=false' });
        promoted = match[1] === 'true';
      }
      if (promoted === undefined) throw new StagecraftError('USAGE', 'history annotate needs promoted=true or promoted=false', { hint: 'stagecraft history annotate ^1 promoted=true' });
      const value = promoted;
      const id = await withEngine(command, async (engine) => {
        const store = await engine.buildHistory();
        const resolved = store.resolve(ref);
        if (!store.setPromoted(resolved, value)) throw new StagecraftError('NOT_FOUND', `no build ${ref} in the history`, { hint: 'list the recorded builds with `stagecraft history ls`' });
        return resolved;
      });
      io.stdout(flags.json === true ? `${JSON.stringify({ id, promoted: value }, null, 2)}\n` : `${id} promoted=${String(value)}\n`);
    });
}

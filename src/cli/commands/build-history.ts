/**
 * `stagecraft history ls|show|logs|rm|export` (and `stats`, `annotate`: history-stats.ts): the recorded builds of the state root, in the spirit
 * of `docker buildx history`. `stagecraft history IMAGE` (the old spelling of `image history`) is
 * still routed to the image history, with a note (see `routeImageHistory`).
 */
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import { instructions } from '../../dockerfile/index.js';
import { BUILD_STATUSES, pushRecords, toRecordBundle, type BuildRecord, type BuildStatus, type HistoryStore, type ListOptions, type StepRecord } from '../../history/index.js';
import type { CliIo } from '../main.js';
import { reportTarget } from '../report.js';
import { formatBytes, humanDuration, shortDigest, table, withEngine } from './store-context.js';
import { registerHistoryStats } from './history-stats.js';

export { HISTORY_SUBCOMMANDS, routeImageHistory } from '../argv.js';

/** "1.2s", "2m 3s", "1h 2m". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ${seconds % 60}s`;
  return `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
}

/** The NAME column: the project's last path element, and the target when one was given. */
function buildName(build: BuildRecord): string {
  const name = basename(build.project.replace(/\.git$/, '').replace(/[/:]+$/, '')) || build.project;
  return build.target === '' ? name : `${name} (${build.target})`;
}

function parseFilters(filters: readonly string[]): Omit<ListOptions, 'limit'> {
  let status: BuildStatus | undefined;
  let project: string | undefined;
  let target: string | undefined;
  for (const filter of filters) {
    const eq = filter.indexOf('=');
    const key = eq < 0 ? filter : filter.slice(0, eq);
    const value = eq < 0 ? '' : filter.slice(eq + 1);
    if (key === 'status') {
      if (!(BUILD_STATUSES as readonly string[]).includes(value)) throw new StagecraftError('USAGE', `unknown status "${value}" in --filter ${filter}`, { hint: `use status=${BUILD_STATUSES.join(', status=')}` });
      status = value as BuildStatus;
    } else if (key === 'project') project = value;
    else if (key === 'target') target = value;
    else throw new StagecraftError('USAGE', `unknown filter "${filter}"`, { hint: 'filter by status=success|failed|cancelled, project=… or target=…' });
  }
  return { status, project, target };
}

function parseLimit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1) throw new StagecraftError('USAGE', `invalid --limit "${text}"`, { hint: 'give a positive whole number' });
  return limit;
}

function stepLine(step: StepRecord): string {
  return step.location === undefined ? '' : `${step.location.file}:${step.location.line}`;
}

function stepState(step: StepRecord): string {
  if (step.status === 'failed' && step.exitCode !== undefined) return `FAILED (exit ${step.exitCode})`;
  return step.status === 'done' ? 'DONE' : step.status.toUpperCase();
}

function showText(found: NonNullable<ReturnType<HistoryStore['get']>>, now: number): string {
  const { build, steps, warnings } = found;
  const lines: string[] = [];
  const field = (name: string, value: string): void => void lines.push(`${`${name}:`.padEnd(16)}${value}`);
  field('ID', build.id);
  field('Project', build.project);
  field('Context', build.context);
  field('Dockerfile', build.dockerfile);
  field('Target', build.target === '' ? '(last stage)' : build.target);
  field('Platform', build.platform);
  field('Status', build.status.toUpperCase());
  field('Started', `${new Date(build.startedAt).toISOString()} (${humanDuration(now - build.startedAt)} ago)`);
  field('Duration', formatDuration(build.endedAt - build.startedAt));
  field('Steps', `${build.steps.total} (${build.steps.executed} executed, ${build.steps.cached} cached)`);
  if (build.request.buildArgs.length > 0) field('Build args', build.request.buildArgs.map((a) => `${a.name}=${a.value}`).join(' '));
  if (build.request.secrets.length > 0) field('Secrets', build.request.secrets.join(', '));
  if (build.request.ssh.length > 0) field('SSH', build.request.ssh.join(', '));
  if (build.request.tags.length > 0) field('Tags', build.request.tags.join(', '));
  if (build.request.outputs.length > 0) field('Outputs', build.request.outputs.join(' '));
  if (build.image !== undefined) {
    field('Image', build.image.digest);
    field('Config', build.image.configDigest);
    field('Size', formatBytes(build.image.size));
  }
  const chain = build.supplyChain;
  if (chain !== undefined) {
    field('Attestations', [chain.sbom ? 'SBOM' : 'no SBOM', chain.provenance ? 'provenance' : 'no provenance', chain.signed ? 'signed' : 'not signed'].join(', '));
    if (chain.sbomPackages !== undefined) field('SBOM packages', `${chain.sbomPackages.total} (${chain.sbomPackages.purl} with a purl, ${chain.sbomPackages.license} with a license)`);
    if (chain.vulns !== undefined) field('Vulnerabilities', chain.vulns.hasData ? Object.entries(chain.vulns.counts).map(([s, n]) => `${s.toLowerCase()} ${n}`).join(', ') : 'scanned without vulnerability data');
    if (chain.secrets !== undefined) field('Secrets found', String(chain.secrets));
  }
  if (build.pushBytes !== undefined) field('Pushed', formatBytes(build.pushBytes));
  if (build.promoted !== undefined) field('Promoted', build.promoted ? 'yes' : 'no');
  if (build.traceId !== undefined) field('Trace', build.traceId);
  for (const pull of found.pulls ?? []) field('Pulled', `${pull.ref}: ${formatBytes(pull.bytes)} in ${formatDuration(pull.durationMs)} (${pull.blobs} blobs)`);
  if (build.error !== undefined) {
    lines.push('', 'Error:');
    const where = build.error.location === undefined ? '' : ` at ${build.error.location.file}:${build.error.location.line}`;
    lines.push(`  ${build.error.code ?? 'ERROR'}${where}`, ...build.error.message.split('\n').map((l) => `  ${l}`));
  }
  lines.push('', 'Steps:');
  const rows = [['#', 'STATUS', 'DURATION', 'LINE', 'CACHE KEY', 'LAYER', 'NAME']];
  for (const step of steps) {
    rows.push([String(step.seq), stepState(step), step.durationMs === undefined ? '' : formatDuration(step.durationMs), stepLine(step), step.cacheKey === undefined ? '' : shortDigest(step.cacheKey), step.layer === undefined ? '' : `${shortDigest(step.layer.digest)} ${formatBytes(step.layer.size)}`, step.name]);
  }
  lines.push(table(rows).trimEnd());
  const missed = steps.filter((s) => s.missReasons.length > 0);
  if (missed.length > 0) {
    lines.push('', 'Cache misses:');
    for (const step of missed) lines.push(`  #${step.seq} ${step.name}`, ...step.missReasons.map((r) => `    - ${r}`));
  }
  if (warnings.length > 0) {
    lines.push('', `Warnings (${warnings.length}):`);
    for (const w of warnings) {
      const where = w.location === undefined ? '' : ` (${w.location.file}:${w.location.line})`;
      lines.push(`  ${w.rule === undefined ? '' : `${w.rule}: `}${w.message}${where}`);
      if (w.detail !== undefined) lines.push(`    fix: ${w.detail}`);
      if (w.url !== undefined) lines.push(`    see: ${w.url}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

interface JsonFlag {
  json?: boolean;
}

export function registerBuildHistory(program: Command, io: CliIo): void {
  const history = program
    .command('history')
    .description('the recorded builds of this state root (`stagecraft image history IMAGE` shows an image\'s layers)')
    .addHelpText('after', '\nExamples:\n  stagecraft history ls --filter status=failed\n  stagecraft history show ^1\n  stagecraft history logs ^1 --step 3\n  stagecraft history export ^1 -o build.json\n  stagecraft history stats --since 7d --by project');
  registerHistoryStats(history, io);

  history
    .command('ls')
    .description('list recorded builds, newest first')
    .option('--filter <key=value>', 'status=success|failed|cancelled, project=…, target=… (repeatable)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option('--limit <n>', 'show at most n builds')
    .option('--json', 'print the records as JSON')
    .action(async (flags: JsonFlag & { filter: string[]; limit?: string }, command: Command) => {
      const options: ListOptions = { ...parseFilters(flags.filter), limit: parseLimit(flags.limit) };
      const builds = await withEngine(command, async (engine) => (await engine.buildHistory()).list(options));
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(builds, null, 2)}\n`);
        return;
      }
      const now = Date.now();
      const rows = [['BUILD ID', 'NAME', 'STATUS', 'CREATED AT', 'DURATION', 'CACHED/TOTAL']];
      for (const b of builds) rows.push([b.id, buildName(b), b.status.toUpperCase(), `${humanDuration(now - b.startedAt)} ago`, formatDuration(b.endedAt - b.startedAt), `${b.steps.cached}/${b.steps.total}`]);
      io.stdout(table(rows));
    });

  history
    .command('show')
    .alias('inspect')
    .description('show a build: request, outcome, image, steps (cache, duration, layer, Dockerfile line), warnings')
    .argument('[ref]', 'build id or a unique prefix of one; ^1 is the latest build, ^2 the one before', '^1')
    .option('--json', 'print the record, steps and warnings as JSON')
    .action(async (ref: string, flags: JsonFlag, command: Command) => {
      const found = await withEngine(command, async (engine) => {
        const store = await engine.buildHistory();
        return store.get(store.resolve(ref));
      });
      if (found === undefined) throw new StagecraftError('NOT_FOUND', `no build ${ref} in the history`, { hint: 'list the recorded builds with `stagecraft history ls`' });
      io.stdout(flags.json === true ? `${JSON.stringify(found, null, 2)}\n` : showText(found, Date.now()));
    });

  history
    .command('logs')
    .description('print the whole output of a build\'s steps (never clipped)')
    .argument('[ref]', 'build id, prefix, or ^N', '^1')
    .option('--step <n>', 'only step n (the # of `history show`)')
    .option('--json', 'print [{ seq, name, text }] as JSON')
    .action(async (ref: string, flags: JsonFlag & { step?: string }, command: Command) => {
      const step = flags.step === undefined ? undefined : parseLimit(flags.step);
      const result = await withEngine(command, async (engine) => {
        const store = await engine.buildHistory();
        const id = store.resolve(ref);
        const found = store.get(id);
        if (found === undefined) throw new StagecraftError('NOT_FOUND', `no build ${ref} in the history`, { hint: 'list the recorded builds with `stagecraft history ls`' });
        if (step !== undefined && !found.steps.some((s) => s.seq === step)) {
          throw new StagecraftError('NOT_FOUND', `build ${id} has no step ${step}`, { hint: `its steps are 1 to ${found.steps.length} (see \`stagecraft history show ${id}\`)` });
        }
        const names = new Map(found.steps.map((s) => [s.seq, s.name]));
        return store.logs(id).filter((l) => step === undefined || l.seq === step).map((l) => ({ seq: l.seq, name: names.get(l.seq) ?? '', text: l.text }));
      });
      if (flags.json === true) {
        io.stdout(`${JSON.stringify(result, null, 2)}\n`);
        return;
      }
      for (const log of result) {
        if (step === undefined) io.stdout(`#${log.seq} ${log.name}\n`);
        io.stdout(log.text.endsWith('\n') || log.text === '' ? log.text : `${log.text}\n`);
      }
    });

  history
    .command('rm')
    .description('remove recorded builds')
    .argument('[refs...]', 'build ids, prefixes or ^N')
    .option('--all', 'remove every recorded build')
    .option('--older-than <duration>', 'remove the builds that ended longer ago than DURATION (e.g. 720h)')
    .option('--json', 'print { removed: [ids] } as JSON')
    .action(async (refs: string[], flags: JsonFlag & { all?: boolean; olderThan?: string }, command: Command) => {
      const modes = [refs.length > 0, flags.all === true, flags.olderThan !== undefined].filter(Boolean).length;
      if (modes === 0) throw new StagecraftError('USAGE', 'history rm needs build ids, --all or --older-than', { hint: 'stagecraft history rm ^1, stagecraft history rm --older-than 720h, or stagecraft history rm --all' });
      if (modes > 1) throw new StagecraftError('USAGE', 'history rm takes build ids, --all or --older-than, one of them', { hint: 'drop all but one' });
      const olderThanNs = flags.olderThan === undefined ? undefined : instructions.parseGoDuration(flags.olderThan);
      if (flags.olderThan !== undefined && olderThanNs === undefined) throw new StagecraftError('USAGE', `invalid --older-than "${flags.olderThan}"`, { hint: 'durations look like 90m, 24h or 720h' });
      const removed = await withEngine(command, async (engine) => {
        const store = await engine.buildHistory();
        const before = olderThanNs === undefined ? undefined : Date.now() - olderThanNs / 1e6;
        const ids = flags.all === true ? store.list().map((b) => b.id)
          : before !== undefined ? store.list().filter((b) => b.endedAt < before).map((b) => b.id)
          : [...new Set(refs.map((ref) => store.resolve(ref)))];
        store.remove(ids);
        return ids;
      });
      io.stdout(flags.json === true ? `${JSON.stringify({ removed }, null, 2)}\n` : removed.map((id) => `${id}\n`).join(''));
    });

  history
    .command('export')
    .description('write a build\'s record, steps, warnings and whole logs as one JSON document')
    .argument('[ref]', 'build id, prefix, or ^N', '^1')
    .option('-o, --output <file>', 'write to this file (default: stdout)')
    .action(async (ref: string, flags: { output?: string }, command: Command) => {
      const bundle = await withEngine(command, async (engine) => {
        const store = await engine.buildHistory();
        return store.bundle(store.resolve(ref));
      });
      if (bundle === undefined) throw new StagecraftError('NOT_FOUND', `no build ${ref} in the history`, { hint: 'list the recorded builds with `stagecraft history ls`' });
      const text = `${JSON.stringify(toRecordBundle(bundle), null, 2)}\n`;
      if (flags.output === undefined || flags.output === '-') io.stdout(text);
      else await writeFile(flags.output, text, { mode: 0o600 });
    });

  history
    .command('push')
    .description('send the queued build records (and the builds named) to a stagecraft server; what it does not take stays queued')
    .argument('[refs...]', 'also queue these builds (ids, prefixes or ^N)')
    .option('--report-to <url>', 'the server (default: $STAGECRAFT_REPORT_URL; token from $STAGECRAFT_REPORT_TOKEN)')
    .option('--json', 'print { delivered, failed, pending } as JSON')
    .action(async (refs: string[], flags: JsonFlag & { reportTo?: string }, command: Command) => {
      const target = reportTarget(flags.reportTo, process.env);
      if (target === undefined) throw new StagecraftError('USAGE', 'history push needs a server', { hint: 'give --report-to URL or set $STAGECRAFT_REPORT_URL' });
      const result = await withEngine(command, async (engine, signal) => {
        const { store, outbox } = await engine.historyAccess();
        for (const id of new Set(refs.map((ref) => store.resolve(ref)))) outbox.enqueue(id, target.url);
        return pushRecords(store, outbox, { url: target.url, token: target.token, timeoutMs: 10_000, retries: 2, all: true, signal });
      });
      if (flags.json === true) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
      else io.stdout(`delivered ${result.delivered.length}, failed ${result.failed.length}, still queued ${result.pending}\n`);
      const failure = result.failed[0];
      if (failure !== undefined) {
        throw new StagecraftError('REPORT_FAILED', `${target.url} did not take ${result.failed.length} build record(s): ${failure.error}`, {
          hint: failure.error.startsWith('HTTP 401') ? 'check $STAGECRAFT_REPORT_TOKEN against the server\'s token' : 'they stay queued; run `stagecraft history push` again when the server is up',
        });
      }
    });
}

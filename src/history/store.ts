/**
 * The build history store: writes a finished build in one transaction, reads records back (rows
 * parsed with zod), resolves `^N` and id prefixes as `buildx history` does, removes records.
 * Owner of the `history_*` tables.
 */
import { deflateSync, inflateSync } from 'node:zlib';
import { z } from 'zod';
import { StagecraftError } from '../core/index.js';
import type { Database, TypedStatement } from '../db/index.js';
import { HISTORY_MIGRATIONS, HISTORY_SCHEMA_OWNER } from './schema.js';
import { BUILD_STATUSES, BuildRequestFacts, STEP_STATUSES, type BuildRecord, type BuildRecordBundle, type BuildStatus, type PullRecord, type SourcePoint, type StepLog, type StepRecord, type SupplyChainRecord, type WarningRecord } from './types.js';

const int = z.number().int();
export const BuildRow = z.object({
  id: z.string(), project: z.string(), context: z.string(), dockerfile: z.string(), target: z.string(), platform: z.string(),
  started_at: int, ended_at: int, status: z.enum(BUILD_STATUSES),
  error_code: z.string().nullable(), error_message: z.string().nullable(), error_file: z.string().nullable(), error_line: int.nullable(), error_vertex: z.string().nullable(),
  request: z.string(), image_digest: z.string().nullable(), config_digest: z.string().nullable(), image_size: int.nullable(),
  steps_total: int, steps_executed: int, steps_cached: int, warnings: int,
  sbom: int.nullable(), provenance: int.nullable(), signed: int.nullable(), sbom_packages: int.nullable(), sbom_purl: int.nullable(), sbom_license: int.nullable(),
  vulns_scanned: int, vulns_data: int.nullable(), vulns_critical: int.nullable(), vulns_high: int.nullable(), vulns_medium: int.nullable(), vulns_low: int.nullable(), vulns_unknown: int.nullable(),
  secrets: int.nullable(), push_bytes: int.nullable(), promoted: int.nullable(),
  // Added by migration 3.
  trace_id: z.string().nullable(),
});
export type BuildRow = z.infer<typeof BuildRow>;
const StepRow = z.object({
  seq: int, vertex: z.string(), name: z.string(), stage: z.string().nullable(), status: z.enum(STEP_STATUSES), started_at: int, duration_ms: int.nullable(),
  miss_reasons: z.string().nullable(), exit_code: int.nullable(), error: z.string().nullable(), layer_digest: z.string().nullable(), layer_size: int.nullable(),
  file: z.string().nullable(), line: int.nullable(), cache_key: z.string().nullable(),
});
type StepRow = z.infer<typeof StepRow>;
const WarningRow = z.object({ seq: int, rule: z.string().nullable(), message: z.string(), file: z.string().nullable(), line: int.nullable(), col: int.nullable(), url: z.string().nullable(), detail: z.string().nullable() });
type WarningRow = z.infer<typeof WarningRow>;
const LogRow = z.object({ seq: int, encoding: z.literal('deflate'), size: int, data: z.instanceof(Buffer) });
const PullRow = z.object({ seq: int, ref: z.string(), started_at: int, duration_ms: int, bytes: int, blobs: int });
type PullRow = z.infer<typeof PullRow>;
const IdRow = z.object({ id: z.string() });
const MissReasons = z.array(z.string());

/** A step's whole output, deflated (`compressLog`). */
export interface CompressedLog {
  /** Bytes before compression. */
  readonly size: number;
  readonly data: Buffer;
}

export function compressLog(chunks: readonly Buffer[]): CompressedLog {
  const raw = Buffer.concat(chunks);
  return { size: raw.length, data: deflateSync(raw) };
}

/** The output back, never more than its recorded size (a damaged row cannot inflate without bound). */
export function decompressLog(log: CompressedLog): Buffer {
  return inflateSync(log.data, { maxOutputLength: Math.max(log.size, 1) });
}

/** One build as the recorder hands it over: the record, its steps and warnings, each step's output by step number. */
export interface NewBuildRecord {
  readonly build: BuildRecord;
  readonly steps: readonly StepRecord[];
  readonly warnings: readonly WarningRecord[];
  readonly logs: ReadonlyMap<number, CompressedLog>;
  readonly pulls?: readonly PullRecord[] | undefined;
}

export interface ListOptions {
  readonly status?: BuildStatus | undefined;
  readonly project?: string | undefined;
  readonly target?: string | undefined;
  /** Newest first; at most this many (default all). */
  readonly limit?: number | undefined;
}

type Params = Record<string, string | number | Buffer | null>;
const point = (file: string | null, line: number | null, column?: number | null): SourcePoint | undefined =>
  file === null || line === null ? undefined : { file, line, ...(column === null || column === undefined ? {} : { column }) };

export class HistoryStore {
  readonly #db: Database;
  readonly #insertBuild: (p: Params) => unknown;
  readonly #insertStep: (p: Params) => unknown;
  readonly #insertWarning: (p: Params) => unknown;
  readonly #insertLog: (p: Params) => unknown;
  readonly #insertPull: (p: Params) => unknown;
  readonly #pulls: TypedStatement<{ id: string }, PullRow>;
  readonly #setPromoted: (p: { id: string; promoted: number }) => { readonly changes: number };
  readonly #list: TypedStatement<Params, BuildRow>;
  readonly #get: TypedStatement<{ id: string }, BuildRow>;
  readonly #steps: TypedStatement<{ id: string }, StepRow>;
  readonly #warnings: TypedStatement<{ id: string }, WarningRow>;
  readonly #logs: TypedStatement<{ id: string }, z.infer<typeof LogRow>>;
  readonly #prefix: TypedStatement<{ prefix: string }, z.infer<typeof IdRow>>;
  readonly #nth: TypedStatement<{ offset: number }, z.infer<typeof IdRow>>;
  readonly #delete: (p: { id: string }) => { readonly changes: number };
  readonly #setProject: (p: { id: string; project: string }) => { readonly changes: number };
  readonly #deleteBefore: (p: { before: number }) => { readonly changes: number };

  /**
   * Applies the history migrations and prepares the statements. Throws STORE_CORRUPT when the
   * database holds a newer history schema than this program knows, or tables it cannot use.
   */
  constructor(db: Database, clock: () => number = Date.now) {
    this.#db = db;
    db.migrate(HISTORY_SCHEMA_OWNER, HISTORY_MIGRATIONS, clock);
    this.#insertBuild = db.command(`INSERT OR REPLACE INTO history_builds (id, project, context, dockerfile, target, platform, started_at, ended_at, status,
      error_code, error_message, error_file, error_line, error_vertex, request, image_digest, config_digest, image_size, steps_total, steps_executed, steps_cached, warnings,
      sbom, provenance, signed, sbom_packages, sbom_purl, sbom_license, vulns_scanned, vulns_data, vulns_critical, vulns_high, vulns_medium, vulns_low, vulns_unknown, secrets, push_bytes, promoted, trace_id)
      VALUES (@id, @project, @context, @dockerfile, @target, @platform, @started_at, @ended_at, @status, @error_code, @error_message, @error_file, @error_line, @error_vertex,
      @request, @image_digest, @config_digest, @image_size, @steps_total, @steps_executed, @steps_cached, @warnings,
      @sbom, @provenance, @signed, @sbom_packages, @sbom_purl, @sbom_license, @vulns_scanned, @vulns_data, @vulns_critical, @vulns_high, @vulns_medium, @vulns_low, @vulns_unknown, @secrets, @push_bytes, @promoted, @trace_id)`);
    this.#insertStep = db.command(`INSERT INTO history_steps (build_id, seq, vertex, name, stage, status, started_at, duration_ms, miss_reasons, exit_code, error, layer_digest, layer_size, file, line, cache_key)
      VALUES (@build_id, @seq, @vertex, @name, @stage, @status, @started_at, @duration_ms, @miss_reasons, @exit_code, @error, @layer_digest, @layer_size, @file, @line, @cache_key)`);
    this.#insertWarning = db.command(`INSERT INTO history_warnings (build_id, seq, rule, message, file, line, col, url, detail)
      VALUES (@build_id, @seq, @rule, @message, @file, @line, @col, @url, @detail)`);
    this.#insertLog = db.command('INSERT INTO history_logs (build_id, seq, encoding, size, data) VALUES (@build_id, @seq, @encoding, @size, @data)');
    this.#insertPull = db.command('INSERT INTO history_pulls (build_id, seq, ref, started_at, duration_ms, bytes, blobs) VALUES (@build_id, @seq, @ref, @started_at, @duration_ms, @bytes, @blobs)');
    this.#pulls = db.statement('SELECT seq, ref, started_at, duration_ms, bytes, blobs FROM history_pulls WHERE build_id = @id ORDER BY seq', PullRow);
    this.#setPromoted = db.command('UPDATE history_builds SET promoted = @promoted WHERE id = @id');
    this.#list = db.statement(`SELECT * FROM history_builds WHERE (@status IS NULL OR status = @status) AND (@project IS NULL OR project = @project)
      AND (@target IS NULL OR target = @target) ORDER BY started_at DESC, id LIMIT @limit`, BuildRow);
    this.#get = db.statement('SELECT * FROM history_builds WHERE id = @id', BuildRow);
    this.#steps = db.statement('SELECT * FROM history_steps WHERE build_id = @id ORDER BY seq', StepRow);
    this.#warnings = db.statement('SELECT * FROM history_warnings WHERE build_id = @id ORDER BY seq', WarningRow);
    this.#logs = db.statement('SELECT seq, encoding, size, data FROM history_logs WHERE build_id = @id ORDER BY seq', LogRow);
    this.#prefix = db.statement("SELECT id FROM history_builds WHERE substr(id, 1, length(@prefix)) = @prefix ORDER BY started_at DESC LIMIT 2", IdRow);
    this.#nth = db.statement('SELECT id FROM history_builds ORDER BY started_at DESC, id LIMIT 1 OFFSET @offset', IdRow);
    this.#delete = db.command('DELETE FROM history_builds WHERE id = @id');
    this.#setProject = db.command('UPDATE history_builds SET project = @project WHERE id = @id');
    this.#deleteBefore = db.command('DELETE FROM history_builds WHERE ended_at < @before');
  }

  /** Stores one build (replacing a record with the same id) in a single transaction. */
  save(record: NewBuildRecord): void {
    const { build } = record;
    this.#db.writeTransaction(() => {
      this.#delete({ id: build.id });
      this.#insertBuild({
        id: build.id, project: build.project, context: build.context, dockerfile: build.dockerfile, target: build.target, platform: build.platform,
        started_at: build.startedAt, ended_at: build.endedAt, status: build.status,
        error_code: build.error?.code ?? null, error_message: build.error?.message ?? null,
        error_file: build.error?.location?.file ?? null, error_line: build.error?.location?.line ?? null, error_vertex: build.error?.vertex ?? null,
        request: JSON.stringify(build.request),
        image_digest: build.image?.digest ?? null, config_digest: build.image?.configDigest ?? null, image_size: build.image?.size ?? null,
        steps_total: build.steps.total, steps_executed: build.steps.executed, steps_cached: build.steps.cached, warnings: build.warnings,
        ...supplyChainColumns(build.supplyChain),
        push_bytes: build.pushBytes ?? null,
        promoted: build.promoted === undefined ? null : Number(build.promoted),
        trace_id: build.traceId ?? null,
      });
      for (const step of record.steps) {
        this.#insertStep({
          build_id: build.id, seq: step.seq, vertex: step.vertex, name: step.name, stage: step.stage ?? null, status: step.status,
          started_at: step.startedAt, duration_ms: step.durationMs ?? null,
          miss_reasons: step.missReasons.length > 0 ? JSON.stringify(step.missReasons) : null,
          exit_code: step.exitCode ?? null, error: step.error ?? null,
          layer_digest: step.layer?.digest ?? null, layer_size: step.layer?.size ?? null,
          file: step.location?.file ?? null, line: step.location?.line ?? null,
          cache_key: step.cacheKey ?? null,
        });
      }
      for (const warning of record.warnings) {
        this.#insertWarning({
          build_id: build.id, seq: warning.seq, rule: warning.rule ?? null, message: warning.message,
          file: warning.location?.file ?? null, line: warning.location?.line ?? null, col: warning.location?.column ?? null,
          url: warning.url ?? null, detail: warning.detail ?? null,
        });
      }
      for (const [seq, log] of record.logs) {
        if (log.size > 0) this.#insertLog({ build_id: build.id, seq, encoding: 'deflate', size: log.size, data: log.data });
      }
      for (const pull of record.pulls ?? []) {
        this.#insertPull({ build_id: build.id, seq: pull.seq, ref: pull.ref, started_at: pull.startedAt, duration_ms: pull.durationMs, bytes: pull.bytes, blobs: pull.blobs });
      }
    });
  }

  /** Records whether a CI promoted the build's image (SLI M7); returns false when there is no such build. */
  setPromoted(id: string, promoted: boolean): boolean {
    return this.#setPromoted({ id, promoted: Number(promoted) }).changes > 0;
  }

  /** The database, for the SLI queries (stats.ts) of this module. */
  get database(): Database {
    return this.#db;
  }

  setProject(id: string, project: string): void {
    this.#setProject({ id, project });
  }

  /** Builds, newest first. */
  list(options: ListOptions = {}): BuildRecord[] {
    return this.#list.all({ status: options.status ?? null, project: options.project ?? null, target: options.target ?? null, limit: options.limit ?? -1 }).map(toBuild);
  }

  /**
   * The id a user's reference names: `^1` the latest build, `^2` the one before (as `buildx
   * history inspect`), else a full id or a unique prefix of one.
   */
  resolve(ref: string): string {
    const nth = /^\^(\d+)$/.exec(ref);
    if (nth !== null) {
      const n = Number(nth[1]);
      const row = n >= 1 ? this.#nth.get({ offset: n - 1 }) : undefined;
      if (row === undefined) throw new StagecraftError('NOT_FOUND', `no build ${ref} in the history`, { hint: 'list the recorded builds with `stagecraft history ls`' });
      return row.id;
    }
    if (ref === '' || !/^[0-9a-z]+$/i.test(ref)) throw new StagecraftError('USAGE', `"${ref}" is not a build id`, { hint: 'give a build id (or a prefix of one) from `stagecraft history ls`, or ^1 for the latest build' });
    const rows = this.#prefix.all({ prefix: ref.toLowerCase() });
    if (rows.length === 0) throw new StagecraftError('NOT_FOUND', `no build ${ref} in the history`, { hint: 'list the recorded builds with `stagecraft history ls`' });
    if (rows.length > 1) throw new StagecraftError('USAGE', `build id prefix "${ref}" is ambiguous`, { hint: 'give more characters of the id' });
    return rows[0]?.id ?? ref;
  }

  /** The record, steps and warnings of a build (undefined when there is none). */
  get(id: string): Omit<BuildRecordBundle, 'logs'> | undefined {
    return this.#db.readTransaction(() => {
      const row = this.#get.get({ id });
      if (row === undefined) return undefined;
      return { build: toBuild(row), steps: this.#steps.all({ id }).map(toStep), warnings: this.#warnings.all({ id }).map(toWarning), pulls: this.#pulls.all({ id }).map(toPull) };
    });
  }

  /** Each step's whole output, by step number. */
  logs(id: string): StepLog[] {
    return this.#logs.all({ id }).map((row) => {
      try {
        return { seq: row.seq, text: decompressLog(row).toString('utf8') };
      } catch (error) {
        throw new StagecraftError('STORE_CORRUPT', `the recorded output of step ${row.seq} of build ${id} in ${this.#db.path} is damaged: ${(error as Error).message}`, {
          hint: `remove the record with \`stagecraft history rm ${id}\``,
          cause: error,
        });
      }
    });
  }

  bundle(id: string): BuildRecordBundle | undefined {
    const found = this.get(id);
    return found === undefined ? undefined : { ...found, logs: this.logs(id) };
  }

  /** Removes builds by id; returns how many existed. */
  remove(ids: readonly string[]): number {
    return this.#db.writeTransaction(() => ids.reduce((sum, id) => sum + this.#delete({ id }).changes, 0));
  }

  /** Removes every build that ended before `before` (epoch ms; Infinity removes all). */
  removeBefore(before: number): number {
    return this.#db.writeTransaction(() => this.#deleteBefore({ before: Number.isFinite(before) ? before : Number.MAX_SAFE_INTEGER }).changes);
  }
}

export function toBuild(row: BuildRow): BuildRecord {
  const location = point(row.error_file, row.error_line);
  return {
    id: row.id, project: row.project, context: row.context, dockerfile: row.dockerfile, target: row.target, platform: row.platform,
    startedAt: row.started_at, endedAt: row.ended_at, status: row.status,
    ...(row.error_message === null ? {} : { error: { message: row.error_message, ...(row.error_code === null ? {} : { code: row.error_code }), ...(location === undefined ? {} : { location }), ...(row.error_vertex === null ? {} : { vertex: row.error_vertex }) } }),
    request: BuildRequestFacts.parse(JSON.parse(row.request)),
    ...(row.image_digest === null || row.config_digest === null || row.image_size === null ? {} : { image: { digest: row.image_digest, configDigest: row.config_digest, size: row.image_size } }),
    steps: { total: row.steps_total, executed: row.steps_executed, cached: row.steps_cached },
    warnings: row.warnings,
    ...(row.sbom === null || row.provenance === null || row.signed === null ? {} : { supplyChain: toSupplyChain(row, row.sbom, row.provenance, row.signed) }),
    ...(row.push_bytes === null ? {} : { pushBytes: row.push_bytes }),
    ...(row.promoted === null ? {} : { promoted: row.promoted === 1 }),
    ...(row.trace_id === null ? {} : { traceId: row.trace_id }),
  };
}

function toSupplyChain(row: BuildRow, sbom: number, provenance: number, signed: number): SupplyChainRecord {
  const vulns = row.vulns_scanned === 1 ? {
    hasData: row.vulns_data === 1,
    counts: { CRITICAL: row.vulns_critical ?? 0, HIGH: row.vulns_high ?? 0, MEDIUM: row.vulns_medium ?? 0, LOW: row.vulns_low ?? 0, UNKNOWN: row.vulns_unknown ?? 0 },
  } : undefined;
  return {
    sbom: sbom === 1, provenance: provenance === 1, signed: signed === 1,
    ...(row.sbom_packages === null ? {} : { sbomPackages: { total: row.sbom_packages, purl: row.sbom_purl ?? 0, license: row.sbom_license ?? 0 } }),
    ...(vulns === undefined ? {} : { vulns }),
    ...(row.secrets === null ? {} : { secrets: row.secrets }),
  };
}

function supplyChainColumns(facts: SupplyChainRecord | undefined): Params {
  const flag = (value: boolean | undefined): number | null => (value === undefined ? null : Number(value));
  const counts = facts?.vulns?.counts;
  return {
    sbom: flag(facts?.sbom), provenance: flag(facts?.provenance), signed: flag(facts?.signed),
    sbom_packages: facts?.sbomPackages?.total ?? null, sbom_purl: facts?.sbomPackages?.purl ?? null, sbom_license: facts?.sbomPackages?.license ?? null,
    vulns_scanned: facts?.vulns === undefined ? 0 : 1, vulns_data: flag(facts?.vulns?.hasData),
    vulns_critical: counts?.CRITICAL ?? null, vulns_high: counts?.HIGH ?? null, vulns_medium: counts?.MEDIUM ?? null, vulns_low: counts?.LOW ?? null, vulns_unknown: counts?.UNKNOWN ?? null,
    secrets: facts?.secrets ?? null,
  };
}

function toPull(row: PullRow): PullRecord {
  return { seq: row.seq, ref: row.ref, startedAt: row.started_at, durationMs: row.duration_ms, bytes: row.bytes, blobs: row.blobs };
}

function toStep(row: StepRow): StepRecord {
  const location = point(row.file, row.line);
  return {
    seq: row.seq, vertex: row.vertex, name: row.name, status: row.status, startedAt: row.started_at,
    missReasons: row.miss_reasons === null ? [] : MissReasons.parse(JSON.parse(row.miss_reasons)),
    ...(row.stage === null ? {} : { stage: row.stage }),
    ...(row.cache_key === null ? {} : { cacheKey: row.cache_key }),
    ...(row.duration_ms === null ? {} : { durationMs: row.duration_ms }),
    ...(row.exit_code === null ? {} : { exitCode: row.exit_code }),
    ...(row.error === null ? {} : { error: row.error }),
    ...(row.layer_digest === null || row.layer_size === null ? {} : { layer: { digest: row.layer_digest, size: row.layer_size } }),
    ...(location === undefined ? {} : { location }),
  };
}

function toWarning(row: WarningRow): WarningRecord {
  const location = point(row.file, row.line, row.col);
  return {
    seq: row.seq, message: row.message,
    ...(row.rule === null ? {} : { rule: row.rule }),
    ...(location === undefined ? {} : { location }),
    ...(row.url === null ? {} : { url: row.url }),
    ...(row.detail === null ? {} : { detail: row.detail }),
  };
}

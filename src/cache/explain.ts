/**
 * Why a step missed the cache: its key's preimage is compared with the one the same step had in the
 * most recent build (steps are identified by Dockerfile location, sources by definition), and the
 * differences are put in words — which file changed, which build arg or ENV changed from what to
 * what, which base image digest changed, which earlier step changed.
 */
import { z } from 'zod';
import type { Database, TypedStatement } from '../db/index.js';

const StepRow = z.object({ step: z.string(), key: z.string(), preimage: z.string(), updated_at: z.number() });

export interface StepRecord {
  readonly key: string;
  readonly preimage: unknown;
}

/** The last recorded key of each step. Owner of `cache_steps` (created by the cache migrations). */
export class StepHistory {
  readonly #get: TypedStatement<{ step: string }, z.infer<typeof StepRow>>;
  readonly #put: TypedStatement<{ step: string; key: string; preimage: string; now: number }, never>;

  constructor(db: Database, private readonly clock: () => number = Date.now) {
    this.#get = db.statement('SELECT * FROM cache_steps WHERE step = :step', StepRow);
    this.#put = db.statement(`INSERT INTO cache_steps (step, key, preimage, updated_at) VALUES (:step, :key, :preimage, :now)
      ON CONFLICT(step) DO UPDATE SET key = excluded.key, preimage = excluded.preimage, updated_at = excluded.updated_at`, z.never());
  }

  previous(step: string): StepRecord | undefined {
    const row = this.#get.get({ step });
    return row === undefined ? undefined : { key: row.key, preimage: JSON.parse(row.preimage) as unknown };
  }

  record(step: string, key: string, preimage: unknown): void {
    this.#put.run({ step, key, preimage: JSON.stringify(preimage), now: this.clock() });
  }
}

const Selected = z.object({ input: z.number().int(), digest: z.string(), files: z.array(z.tuple([z.string(), z.string()])).optional() });
const Preimage = z.object({ op: z.unknown(), inputs: z.array(z.string()), selected: z.array(Selected).optional() });
const ExecShape = z.object({ type: z.literal('exec'), args: z.array(z.string()), env: z.array(z.string()), cwd: z.string(), user: z.string(), network: z.string(), mounts: z.array(z.unknown()) });
const ContextShape = z.object({ type: z.literal('context'), files: z.array(z.tuple([z.string(), z.string()])) });
const ImageShape = z.object({ type: z.literal('image'), ref: z.string().optional(), digest: z.string() });

function envMap(env: readonly string[]): Map<string, string> {
  return new Map(env.map((e) => {
    const eq = e.indexOf('=');
    return [eq === -1 ? e : e.slice(0, eq), eq === -1 ? '' : e.slice(eq + 1)];
  }));
}

const MAX_ITEMS = 8;

/** Sentences describing how `current`'s own op definition differs from `previous`'s. */
export function describeOpChange(current: unknown, previous: unknown): string[] {
  const exec = ExecShape.safeParse(current);
  const before = ExecShape.safeParse(previous);
  if (exec.success && before.success) {
    const out: string[] = [];
    const now = envMap(exec.data.env);
    const then = envMap(before.data.env);
    for (const [key, value] of now) {
      const old = then.get(key);
      if (old === undefined) out.push(`build arg or ENV ${key} was added (="${value}")`);
      else if (old !== value) out.push(`build arg or ENV ${key} changed from "${old}" to "${value}"`);
    }
    for (const key of then.keys()) if (!now.has(key)) out.push(`build arg or ENV ${key} was removed`);
    if (JSON.stringify(exec.data.args) !== JSON.stringify(before.data.args)) out.push('the command changed');
    for (const field of ['cwd', 'user', 'network'] as const) {
      if (exec.data[field] !== before.data[field]) out.push(`${field === 'cwd' ? 'WORKDIR' : field === 'user' ? 'USER' : 'the network mode'} changed from "${before.data[field]}" to "${exec.data[field]}"`);
    }
    if (JSON.stringify(exec.data.mounts) !== JSON.stringify(before.data.mounts)) out.push('the RUN --mount options changed');
    return out.slice(0, MAX_ITEMS);
  }
  const context = ContextShape.safeParse(current);
  const contextBefore = ContextShape.safeParse(previous);
  if (context.success && contextBefore.success) {
    const now = new Map(context.data.files);
    const then = new Map(contextBefore.data.files);
    const out: string[] = [];
    for (const [path, digest] of now) {
      const old = then.get(path);
      if (old === undefined) out.push(`file ${path} was added`);
      else if (old !== digest) out.push(`file ${path} changed`);
    }
    for (const path of then.keys()) if (!now.has(path)) out.push(`file ${path} was removed`);
    return out.length > MAX_ITEMS ? [...out.slice(0, MAX_ITEMS), `and ${out.length - MAX_ITEMS} more files`] : out;
  }
  const image = ImageShape.safeParse(current);
  const imageBefore = ImageShape.safeParse(previous);
  if (image.success && imageBefore.success) {
    return [`base image ${image.data.ref ?? ''} now resolves to ${image.data.digest} (was ${imageBefore.data.digest})`.replace('image  now', 'image now')];
  }
  return ['the instruction changed'];
}

export interface InputInfo {
  readonly name: string;
  readonly key: string;
  /** The input's own change, if it is a source (context files, base image). */
  readonly ownChange?: readonly string[] | undefined;
  /** What the input is to a step that selects files from it: `stage build`, `image alpine:3.20`. */
  readonly source?: string | undefined;
}

/** An abbreviated digest for a sentence: `sha256:` and 12 hex digits. */
function shortDigest(digest: string): string {
  return digest.length > 19 ? `${digest.slice(0, 19)}…` : digest;
}

/** Why a step whose inputs changed is still cached: the files it selects from them did not change. */
export function explainContentHit(sources: readonly { readonly source: string; readonly digest: string }[]): string | undefined {
  if (sources.length === 0) return undefined;
  return `files selected from ${sources.map((s) => `${s.source} unchanged (${shortDigest(s.digest)})`).join(', from ')}`;
}

/** Sentences naming the selected paths that changed between two selections of the same input. */
function describeSelectionChange(now: z.infer<typeof Selected>, then: z.infer<typeof Selected>, source: string): string[] {
  if (now.files === undefined || then.files === undefined) return [`the files selected from ${source} changed (${shortDigest(then.digest)} → ${shortDigest(now.digest)})`];
  const before = new Map(then.files);
  const after = new Map(now.files);
  const out: string[] = [];
  for (const [path, digest] of after) {
    const old = before.get(path);
    if (old === undefined) out.push(`file ${path} selected from ${source} was added`);
    else if (old !== digest) out.push(`file ${path} selected from ${source} changed`);
  }
  for (const path of before.keys()) if (!after.has(path)) out.push(`file ${path} selected from ${source} was removed`);
  if (out.length === 0) return [`the files selected from ${source} changed (${shortDigest(then.digest)} → ${shortDigest(now.digest)})`];
  return out.length > MAX_ITEMS ? [...out.slice(0, MAX_ITEMS), `and ${out.length - MAX_ITEMS} more files selected from ${source}`] : out;
}

/**
 * Reasons a step missed: `undefined` previous means the step never ran before. Input changes name the
 * changed source (files, image digest) or the earlier step whose result changed.
 */
export function explainMiss(current: unknown, previous: StepRecord | undefined, inputs: readonly InputInfo[]): string[] {
  if (previous === undefined) return ['no earlier build of this step'];
  const now = Preimage.safeParse(current);
  const then = Preimage.safeParse(previous.preimage);
  if (!now.success || !then.success) return ['the cache key format changed'];
  const reasons: string[] = [];
  if (JSON.stringify(now.data.op) !== JSON.stringify(then.data.op)) reasons.push(...describeOpChange(now.data.op, then.data.op));
  now.data.inputs.forEach((key, i) => {
    if (key === then.data.inputs[i]) return;
    const input = inputs[i];
    if (input === undefined) return;
    const selectedNow = now.data.selected?.find((s) => s.input === i);
    const selectedThen = then.data.selected?.find((s) => s.input === i);
    if (selectedNow !== undefined && selectedThen !== undefined) reasons.push(...describeSelectionChange(selectedNow, selectedThen, input.source ?? input.name));
    else if (input.ownChange !== undefined && input.ownChange.length > 0) reasons.push(...input.ownChange);
    else reasons.push(`the result of ${input.name} changed`);
  });
  if (reasons.length === 0 && previous.key !== undefined) reasons.push('the cached result is no longer in the store');
  return reasons;
}

/**
 * The policy file: YAML or JSON (JSON is YAML 1.2, so one parser reads both and gives every error a
 * line and column), checked once here into a `Policy` whose CEL rules are compiled. A malformed
 * file, an unknown rule (with "did you mean") or a CEL expression that does not compile is a
 * POLICY_INVALID error naming the file, line and column, before any build starts.
 */
import { readFile } from 'node:fs/promises';
import type * as Yaml from 'yaml';
import { z } from 'zod';
import { StagecraftError, closest, type SourceLocation } from '../core/index.js';
import { SEVERITIES, type Severity } from '../scan/index.js';
import { compileCel, type CompiledCel } from './cel.js';

/** Policy files are small; a larger one is a mistake (or hostile). */
export const MAX_POLICY_BYTES = 1024 * 1024;

/** The declarative rules, in the order they are evaluated and reported. */
export const RULE_NAMES = [
  'maxSize', 'forbidRootUser', 'forbidPackages', 'allowedBases', 'requireSbom', 'requireProvenance', 'requireSignature', 'maxSeverity', 'noSecrets',
] as const;
export type RuleName = (typeof RULE_NAMES)[number];

const TOP_LEVEL_KEYS = ['version', 'rules', 'cel'] as const;

/** A size limit as written (`500MB`, `1.5 GiB`, `1048576`) and in bytes. */
export interface SizeLimit {
  readonly bytes: number;
  /** The unit it was written in, for the evidence (`MB`, `MiB`, `B`). */
  readonly unit: SizeUnit;
}

const SIZE_UNITS = { B: 1, kB: 1000, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3, TB: 1000 ** 4, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 } as const;
export type SizeUnit = keyof typeof SIZE_UNITS;

/** `500MB` → 500,000,000 bytes; decimal units are powers of 1000, `KiB`/`MiB`/`GiB` powers of 1024. */
export function parseSize(value: number | string): SizeLimit | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? { bytes: value, unit: 'B' } : undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)?\s*$/.exec(value);
  if (match === null) return undefined;
  const unit = (match[2] ?? 'B') as SizeUnit;
  if (!Object.hasOwn(SIZE_UNITS, unit)) return undefined;
  return { bytes: Math.round(Number(match[1]) * SIZE_UNITS[unit]), unit };
}

/** Bytes in `unit`, as evidence reads them: `812 MB`, `1.5 GiB`. */
export function formatSize(bytes: number, unit: SizeUnit): string {
  if (unit === 'B') return `${bytes} B`;
  const value = bytes / SIZE_UNITS[unit];
  return `${value >= 100 ? Math.round(value) : Number(value.toFixed(value >= 10 ? 1 : 2))} ${unit}`;
}

export type MaxSeverity = Severity | 'NONE';

export interface DeclarativeRules {
  readonly maxSize?: SizeLimit | undefined;
  readonly forbidRootUser?: boolean | undefined;
  readonly forbidPackages?: readonly string[] | undefined;
  readonly allowedBases?: readonly string[] | undefined;
  readonly requireSbom?: boolean | undefined;
  readonly requireProvenance?: boolean | undefined;
  readonly requireSignature?: boolean | undefined;
  readonly maxSeverity?: { readonly severity: MaxSeverity; readonly fixedOnly: boolean } | undefined;
  readonly noSecrets?: boolean | undefined;
}

export interface CelRule {
  readonly name: string;
  readonly expression: string;
  /** What a failure means, shown as its evidence (default: the expression). */
  readonly message?: string | undefined;
  readonly program: CompiledCel;
}

export interface Policy {
  readonly file: string;
  readonly rules: DeclarativeRules;
  readonly cel: readonly CelRule[];
}

const severityName = z.string().transform((s, ctx) => {
  const upper = s.toUpperCase();
  if (upper === 'NONE' || (SEVERITIES as readonly string[]).includes(upper)) return upper as MaxSeverity;
  ctx.addIssue({ code: 'custom', message: `unknown severity "${s}": use one of ${[...SEVERITIES.filter((x) => x !== 'UNKNOWN'), 'NONE'].join(', ')}` });
  return z.NEVER;
});

const sizeSchema = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const parsed = parseSize(v);
  if (parsed !== undefined) return parsed;
  ctx.addIssue({ code: 'custom', message: `invalid size ${JSON.stringify(v)}: write bytes (500000000) or a number with B, kB, MB, GB, KiB, MiB or GiB (500MB)` });
  return z.NEVER;
});

const patterns = z.array(z.string().min(1, 'a pattern cannot be empty')).min(1, 'give at least one pattern');

const rulesSchema = z.strictObject({
  maxSize: sizeSchema.optional(),
  forbidRootUser: z.boolean().optional(),
  forbidPackages: patterns.optional(),
  allowedBases: patterns.optional(),
  requireSbom: z.boolean().optional(),
  requireProvenance: z.boolean().optional(),
  requireSignature: z.boolean().optional(),
  // `HIGH` is short for `{ severity: HIGH }`.
  maxSeverity: z.preprocess((v) => (typeof v === 'string' ? { severity: v } : v), z.strictObject({ severity: severityName, fixedOnly: z.boolean().optional() }).transform((v) => ({ severity: v.severity, fixedOnly: v.fixedOnly ?? false }))).optional(),
  noSecrets: z.boolean().optional(),
});

const celSchema = z.array(z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a rule name is letters, digits, ".", "_" or "-"'),
  expression: z.string().min(1),
  message: z.string().optional(),
}));

const fileSchema = z.strictObject({
  version: z.literal(1).optional(),
  rules: rulesSchema.optional(),
  cel: celSchema.optional(),
});

type YamlModule = typeof Yaml;
type YamlNode = ReturnType<Yaml.Document['getIn']>;

function invalid(message: string, file: string, position: { line: number; column: number } | undefined, hint: string): StagecraftError {
  const location: SourceLocation | undefined = position === undefined ? undefined : { file, range: { start: position, end: position } };
  const where = position === undefined ? file : `${file}:${position.line}:${position.column}`;
  return new StagecraftError('POLICY_INVALID', `${where}: ${message}`, { hint, location });
}

/** Reads and checks a policy file (see `parsePolicy`). */
export async function loadPolicy(path: string): Promise<Policy> {
  const text = await readFile(path, 'utf8').catch((cause: unknown) => {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new StagecraftError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'POLICY_INVALID', `--policy ${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? String(cause)})`}`, { hint: 'give the path of a policy file (YAML or JSON; see docs/policy.md)', cause });
  });
  return parsePolicy(text, path);
}

/** Parses a policy file's text (YAML or JSON) and compiles its CEL rules. */
export async function parsePolicy(text: string, file: string): Promise<Policy> {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) throw invalid(`the policy file is over ${MAX_POLICY_BYTES} bytes`, file, undefined, 'a policy is a short list of rules');
  const yaml: YamlModule = await import('yaml');
  const lineCounter = new yaml.LineCounter();
  const doc = yaml.parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number | undefined): { line: number; column: number } | undefined => {
    if (offset === undefined) return undefined;
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  const nodeAt = (path: readonly PropertyKey[]): YamlNode => doc.getIn(path as (string | number)[], true);
  const offsetOf = (node: YamlNode): number | undefined => (yaml.isNode(node) ? node.range?.[0] : undefined);
  const first = doc.errors[0];
  if (first !== undefined) {
    throw invalid(first.message.split('\n')[0] ?? first.message, file, at(first.pos[0]), 'fix the YAML (or JSON) syntax at that position');
  }
  const root = doc.contents;
  if (root === null || (yaml.isScalar(root) && (root.value === null || root.value === ''))) throw invalid('the policy file is empty', file, undefined, 'write at least one rule under "rules:" or "cel:" (see docs/policy.md)');
  if (!yaml.isMap(root)) throw invalid('a policy is a mapping with "rules" and/or "cel"', file, at(offsetOf(root)), 'see docs/policy.md for the file format');
  // Unknown keys first, each at its own position, with the closest known name.
  for (const pair of root.items) {
    const key = yaml.isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if ((TOP_LEVEL_KEYS as readonly string[]).includes(key)) continue;
    const asRule = (RULE_NAMES as readonly string[]).includes(key) ? key : closest(key, RULE_NAMES);
    const suggestion = closest(key, TOP_LEVEL_KEYS);
    throw invalid(`unknown key "${key}"`, file, at(offsetOf(pair.key)),
      asRule !== undefined && (RULE_NAMES as readonly string[]).includes(key) ? `rules go under "rules:" (rules:\n  ${key}: …)` : suggestion !== undefined ? `did you mean "${suggestion}"?` : asRule !== undefined ? `did you mean the rule "${asRule}" (under "rules:")?` : `the keys are ${TOP_LEVEL_KEYS.join(', ')}`);
  }
  const rulesNode = root.get('rules', true);
  if (yaml.isMap(rulesNode)) {
    for (const pair of rulesNode.items) {
      const key = yaml.isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if ((RULE_NAMES as readonly string[]).includes(key)) continue;
      const suggestion = closest(key, RULE_NAMES);
      throw invalid(`unknown rule "${key}"`, file, at(offsetOf(pair.key)), suggestion !== undefined ? `did you mean "${suggestion}"?` : `the rules are ${RULE_NAMES.join(', ')}; for anything else write a CEL rule under "cel:"`);
    }
  }
  const parsed = fileSchema.safeParse(doc.toJS({ maxAliasCount: 50 }));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path ?? [];
    // The deepest node of the path that exists (a missing key is reported at its parent).
    let node: YamlNode;
    for (let n = path.length; n >= 0 && node === undefined; n--) node = nodeAt(path.slice(0, n));
    const name = path.length === 0 ? 'the policy' : path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replaceAll('.[', '[');
    throw invalid(`${name}: ${issue?.message ?? 'invalid'}`, file, at(offsetOf(node)), 'see docs/policy.md for each rule\'s value');
  }
  const value = parsed.data;
  if (Object.keys(value.rules ?? {}).length === 0 && (value.cel ?? []).length === 0) throw invalid('the policy has no rules', file, at(offsetOf(root)), 'write at least one rule under "rules:" or "cel:" (see docs/policy.md)');
  const cel: CelRule[] = [];
  const seen = new Set<string>();
  for (const [i, rule] of (value.cel ?? []).entries()) {
    if (seen.has(rule.name)) throw invalid(`two CEL rules are named "${rule.name}"`, file, at(offsetOf(nodeAt(['cel', i, 'name']))), 'give each CEL rule its own name: the verdict reports rules by name');
    seen.add(rule.name);
    const compiled = await compileCel(rule.expression);
    if (!compiled.ok) {
      const exprNode = nodeAt(['cel', i, 'expression']);
      const start = offsetOf(exprNode);
      // A quoted scalar's text starts one character after the node.
      const quoted = yaml.isScalar(exprNode) && (exprNode.type === 'QUOTE_DOUBLE' || exprNode.type === 'QUOTE_SINGLE') ? 1 : 0;
      const inline = yaml.isScalar(exprNode) && exprNode.type !== 'BLOCK_LITERAL' && exprNode.type !== 'BLOCK_FOLDED';
      throw invalid(`CEL rule "${rule.name}": ${compiled.error} (at column ${compiled.offset + 1} of the expression)`, file, at(start === undefined ? undefined : inline ? start + quoted + compiled.offset : start), 'fix the expression; the variables are image, bases, sbom, vulnerabilities, secrets, provenance and signature (docs/policy.md)');
    }
    cel.push({ name: rule.name, expression: rule.expression, message: rule.message, program: compiled.program });
  }
  return { file, rules: value.rules ?? {}, cel };
}

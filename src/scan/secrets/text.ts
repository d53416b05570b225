/**
 * The text matcher: `@secretlint/core` with the rules of `@secretlint/secretlint-rule-preset-recommend`
 * (loaded with `import()` on first use) plus stagecraft's own rules (rules.ts). Texts are linted in
 * batches: secretlint costs ~0.2 ms per call whatever the size, so thousands of small files are joined
 * (with a separator no rule matches across) into one source, and findings are mapped back. Texts the
 * preset treats by file name (`.npmrc`, `package.json`, `*.json`, `*.p12`) are linted alone under their
 * own name. Values leave this module only as fingerprints.
 */
import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { z } from 'zod';
import { matchRules } from './rules.js';

/** One text to scan; `key` is the caller's handle for it. */
export interface TextItem<K> {
  readonly key: K;
  /** The file path (path-specific rules read its name) or the config field. */
  readonly path: string;
  readonly text: string;
}

export interface TextMatch<K> {
  readonly key: K;
  readonly rule: string;
  readonly message: string;
  /** 1-based. */
  readonly line: number;
  readonly fingerprint: string;
  /** Offsets of the value in the item's text (for redaction). */
  readonly start: number;
  readonly end: number;
}

/** `sha256:` + the first 16 hex digits of the value's sha256: names a value, never shows it. */
export function fingerprint(value: string): string {
  return `sha256:${createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16)}`;
}

/** The preset's filter-comments rule lets a `secretlint-disable` comment in one text silence the rest of a batch: not used. */
const FILTER_COMMENTS = '@secretlint/secretlint-rule-filter-comments';

/** Where the preset's rules look for a file: a path that can never exist, so a rule reading the file (gcp's .p12) reads nothing. */
const VIRTUAL_ROOT = '/dev/null/stagecraft-scan';

/** Between joined texts: NUL is outside every rule's value alphabet and `\s`, and the newlines end line-based patterns. */
const SEPARATOR = '\n\u0000\n';

/** Texts joined into one secretlint call up to this many characters. */
const BATCH_CHARS = 4 << 20;

/** What the preset's messages say, without the value (their own `message` prints it). */
const PRESET_MESSAGES: Readonly<Record<string, string>> = {
  AWSSecretAccessKey: 'AWS secret access key',
  AWSAccessKeyID: 'AWS access key ID',
  AWSAccountID: 'AWS account ID',
  PrivateKeyP12: 'GCP service account private key (p12)',
  PrivateKeyJSON: 'GCP service account private key (json)',
  PackageJSON_xOauthToken: 'GitHub OAuth token in a URL',
  Npmrc_authToken: 'npm auth token in an .npmrc (_authToken)',
  NPM_ACCESS_TOKEN: 'npm access token',
  SLACK_TOKEN: 'Slack token',
  IncomingWebhook: 'Slack incoming webhook URL',
  BasicAuth: 'credentials in a URL (user:password@host)',
  PrivateKey: 'private key (PEM)',
  GITHUB_TOKEN: 'GitHub token',
};

/** The keys of a preset message's `data` that hold the value, in order of preference. */
const VALUE_KEYS = ['TOKEN', 'KEY', 'CREDENTIAL', 'URI', 'URL', 'ID'] as const;

const presetMessage = z.object({
  ruleId: z.string(),
  messageId: z.string(),
  range: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
  data: z.record(z.string(), z.unknown()).optional(),
});

interface Linter {
  lint(filePath: string, content: string): Promise<z.infer<typeof presetMessage>[]>;
}

let linter: Promise<Linter> | undefined;

async function loadLinter(): Promise<Linter> {
  const [{ lintSource }, { rules }, { secretLintProfiler }] = await Promise.all([
    import('@secretlint/core'),
    import('@secretlint/secretlint-rule-preset-recommend'),
    // @secretlint/core's dependency (same pinned version, 11.7.1).
    import('@secretlint/profiler'),
  ]);
  // The core marks every rule run on a process-wide profiler whose observer keeps every mark and
  // searches them all on each new one: quadratic in the number of lint calls, and never freed (a
  // w3-sized image took minutes and grew without bound). The scan does not profile: marks are dropped.
  secretLintProfiler.mark = (): void => undefined;
  const config = { rules: rules.filter((rule) => rule.meta.id !== FILTER_COMMENTS).map((rule) => ({ id: rule.meta.id, rule })) };
  return {
    async lint(filePath, content) {
      // The preset's gcp rule reads a `.p12` from disk by its path: never given one (a layer's file is not the host's).
      const ext = posix.extname(filePath);
      const result = await lintSource({ source: { filePath, ext: ext === '.p12' ? '' : ext, content, contentType: 'text' }, options: { config } });
      return result.messages.map((message) => presetMessage.parse(message));
    },
  };
}

/**
 * The preset decides by the file's name for these: lint them alone, under their name. Only when the
 * name-bound rule could match (a lone call costs ~0.2 ms, and one file in seven of a node_modules
 * tree is JSON): npm's `_authToken` in `.npmrc`, gcp's service-account `*.json` (`private_key_id`),
 * npm's `x-oauth-basic` URL in `package.json`.
 */
function namedByPath(path: string, text: string): boolean {
  const base = posix.basename(path);
  if (base.endsWith('.npmrc')) return true;
  if (!base.endsWith('.json')) return false;
  return text.includes('private_key_id') || ((base.endsWith('package.json') || base.endsWith('package-lock.json')) && text.includes('x-oauth-basic'));
}

/** Line (1-based) of `offset` in `text`. */
function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

interface Span {
  readonly rule: string;
  readonly message: string;
  readonly value: string;
  readonly start: number;
  readonly end: number;
}

/** The preset's findings in `content`, each with the exact place of its value. */
async function presetSpans(lint: Linter, filePath: string, content: string): Promise<Span[]> {
  const out: Span[] = [];
  for (const message of await lint.lint(filePath, content)) {
    const [from, to] = message.range;
    let value = content.slice(from, to);
    let start = from;
    // Some rules report the range of the whole match while the value is a group of it: find the value.
    for (const key of VALUE_KEYS) {
      const data = message.data?.[key];
      if (typeof data !== 'string' || data === '') continue;
      const at = content.indexOf(data, from);
      if (at !== -1) {
        value = data;
        start = at;
      }
      break;
    }
    out.push({ rule: message.ruleId, message: PRESET_MESSAGES[message.messageId] ?? `${message.messageId} (${message.ruleId})`, value, start, end: start + value.length });
  }
  return out;
}

/**
 * Scans texts for secrets. Batches its input: `add` may lint (and return matches of) earlier texts;
 * `flush` lints the rest. Every match is returned once.
 */
export class SecretMatcher<K> {
  private batch: TextItem<K>[] = [];
  private batchChars = 0;
  private scannedChars = 0;

  /** Characters of text linted so far. */
  get scanned(): number {
    return this.scannedChars;
  }

  async add(item: TextItem<K>): Promise<TextMatch<K>[]> {
    if (namedByPath(item.path, item.text) || item.text.length >= BATCH_CHARS) return this.lintAlone(item);
    const out = this.batchChars + item.text.length > BATCH_CHARS ? await this.flush() : [];
    this.batch.push(item);
    this.batchChars += item.text.length + SEPARATOR.length;
    return out;
  }

  async flush(): Promise<TextMatch<K>[]> {
    const items = this.batch;
    if (items.length === 0) return [];
    this.batch = [];
    this.batchChars = 0;
    const content = items.map((item) => item.text).join(SEPARATOR);
    this.scannedChars += content.length - SEPARATOR.length * (items.length - 1);
    const starts: number[] = [];
    let offset = 0;
    for (const item of items) {
      starts.push(offset);
      offset += item.text.length + SEPARATOR.length;
    }
    const lint = await (linter ??= loadLinter());
    const spans = await presetSpans(lint, `${VIRTUAL_ROOT}/batch.txt`, content);
    const out: TextMatch<K>[] = [];
    // stagecraft's rules per item (they read the path); the preset's over the batch, mapped back.
    const byItem = new Map<number, Span[]>();
    for (const span of spans) {
      const index = itemAt(starts, span.start);
      const item = items[index];
      const start = starts[index] ?? 0;
      if (item === undefined || span.end - start > item.text.length) continue; // across a separator: not a real match
      const list = byItem.get(index) ?? [];
      list.push({ ...span, start: span.start - start, end: span.end - start });
      byItem.set(index, list);
    }
    for (const [index, item] of items.entries()) out.push(...this.combine(item, byItem.get(index) ?? []));
    return out;
  }

  private async lintAlone(item: TextItem<K>): Promise<TextMatch<K>[]> {
    const lint = await (linter ??= loadLinter());
    this.scannedChars += item.text.length;
    return this.combine(item, await presetSpans(lint, `${VIRTUAL_ROOT}${posix.normalize(`/${item.path}`)}`, item.text));
  }

  /** The preset's spans and stagecraft's matches of one text; a stagecraft match overlapping a preset span is the same secret. */
  private combine(item: TextItem<K>, preset: readonly Span[]): TextMatch<K>[] {
    const spans = [...preset];
    for (const match of matchRules(item.text, item.path)) {
      if (spans.some((span) => match.start < span.end && span.start < match.end)) continue;
      spans.push({ rule: match.rule.id, message: match.rule.message, value: match.value, start: match.start, end: match.end });
    }
    spans.sort((a, b) => a.start - b.start || a.rule.localeCompare(b.rule));
    return spans.map((span) => ({ key: item.key, rule: span.rule, message: span.message, line: lineAt(item.text, span.start), fingerprint: fingerprint(span.value), start: span.start, end: span.end }));
  }
}

/** The index of the item whose text holds `offset` (`starts` ascending). */
function itemAt(starts: readonly number[], offset: number): number {
  let low = 0;
  let high = starts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** `text` with every secret the matcher finds in it replaced by `***` (for a Dockerfile instruction shown beside a finding). */
export async function redact(text: string): Promise<string> {
  const matcher = new SecretMatcher<0>();
  const matches = [...(await matcher.add({ key: 0, path: '', text })), ...(await matcher.flush())];
  const spans = [...matches].sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const span of spans) {
    if (span.end <= at) continue;
    out += `${text.slice(at, Math.max(at, span.start))}***`;
    at = span.end;
  }
  return out + text.slice(at);
}

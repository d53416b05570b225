/**
 * Per-instruction argument parsing, as BuildKit's dispatch table (frontend/dockerfile/parser
 * line_parsers.go): each keyword's argument text becomes the values of BuildKit's `Next` chain.
 * ONBUILD (`parseSubCommand`) is handled by the caller, which nests the inner instruction.
 */
import { ByteCursor } from './bytes.js';
import { codePointAt, goQuote, isGoSpace, trimLeftGo } from './go-text.js';
import { isByteSpace, splitAsciiBlank } from './split-command.js';

/** A parse failure inside one instruction; the parser adds the location. */
export class LineParseError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
  }
}

export interface ParsedArgs {
  readonly args: string[];
  readonly json: boolean;
}

const NONE: ParsedArgs = { args: [], json: false };

type LineParser = (rest: string, escapeToken: string) => ParsedArgs;

function plain(args: string[]): ParsedArgs {
  return { args, json: false };
}

function width(cp: number): number {
  return cp > 0xffff ? 2 : 1;
}

/**
 * BuildKit's `parseWords`: whitespace-separated words; quotes and escapes are kept in the words (only
 * grouping is decided here), an escape token at the very end is dropped.
 */
export function parseWords(rest: string, escapeToken: string): string[] {
  const escape = escapeToken.charCodeAt(0);
  const words: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = 0;
  let blankOk = false;
  let wordStart = 0;
  /** Where a trailing escape token was skipped (the word ends before it). */
  let cut = -1;
  let pos = 0;
  for (;;) {
    const atEnd = pos >= rest.length;
    const ch = atEnd ? -1 : codePointAt(rest, pos);
    const w = width(ch);
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isGoSpace(ch)) {
        pos += w;
        continue;
      }
      phase = 'word';
      wordStart = pos;
    }
    if (atEnd) {
      const end = cut === -1 ? pos : cut;
      if (blankOk || end > wordStart) words.push(rest.slice(wordStart, end));
      break;
    }
    if (phase === 'word') {
      if (isGoSpace(ch)) {
        phase = 'spaces';
        if (blankOk || pos > wordStart) words.push(rest.slice(wordStart, pos));
        blankOk = false;
        pos += w;
        continue;
      }
      if (ch === 0x27 || ch === 0x22) {
        quote = ch;
        blankOk = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (pos + w === rest.length) {
          cut = pos;
          pos += w;
          continue;
        }
        pos += w;
        pos += width(codePointAt(rest, pos));
        continue;
      }
      pos += w;
      continue;
    }
    // phase === 'quote'
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== 0x27) {
      if (pos + w === rest.length) {
        phase = 'word';
        cut = pos;
        pos += w;
        continue;
      }
      pos += w;
      pos += width(codePointAt(rest, pos));
      continue;
    }
    pos += w;
  }
  return words;
}

/** ENV and LABEL: `KEY value` (legacy) or `KEY=value …`, as key/value/separator triples. */
function parseNameVal(rest: string, escapeToken: string, key: string): ParsedArgs {
  const words = parseWords(rest, escapeToken);
  const first = words[0];
  if (first === undefined) return NONE;
  if (!first.includes('=')) {
    const parts = splitAsciiBlank(rest, 2);
    if (parts.length < 2) {
      throw new LineParseError(`${key} must have two arguments`, `write ${key} NAME=value (or the legacy form ${key} NAME value)`);
    }
    return plain([parts[0] ?? '', parts[1] ?? '', '']);
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq === -1) {
      throw new LineParseError(
        `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`,
        `every word of ${key} must be NAME=value; quote or escape values that contain spaces`,
      );
    }
    args.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return plain(args);
}

/** ARG: `name` or `name=value` words. */
function parseNameOrNameVal(rest: string, escapeToken: string): ParsedArgs {
  return plain(parseWords(rest, escapeToken));
}

function parseStringsWhitespaceDelimited(rest: string): ParsedArgs {
  if (rest === '') return NONE;
  return plain(splitAsciiBlank(rest, -1));
}

function parseString(rest: string): ParsedArgs {
  if (rest === '') return NONE;
  return plain([rest]);
}

function parseIgnore(): ParsedArgs {
  // BuildKit keeps unknown instructions with one empty argument node.
  return plain(['']);
}

/** Go's encoding/json nesting limit; deeper input is a syntax error there. */
const MAX_JSON_DEPTH = 10000;

function jsonDepthExceeded(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > MAX_JSON_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** True when some number in the value does not fit a float64 (Go's decoder reports an error). */
function hasOverflowingNumber(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) return true;
    } else if (Array.isArray(item)) {
      for (const element of item as unknown[]) stack.push(element);
    } else if (item !== null && typeof item === 'object') {
      for (const element of Object.values(item)) stack.push(element);
    }
  }
  return false;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

/**
 * BuildKit's `parseJSON`: undefined when the text is not a JSON array (the caller falls back to the
 * shell form); an error when it is an array with a non-string element.
 */
function parseJson(rest: string): ParsedArgs | undefined {
  const text = trimLeftGo(rest);
  if (!text.startsWith('[')) return undefined;
  if (jsonDepthExceeded(text)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || hasOverflowingNumber(value)) return undefined;
  const args: string[] = [];
  for (const element of value as unknown[]) {
    if (typeof element !== 'string') {
      throw new LineParseError(NOT_STRING_ARRAY, 'the exec form is a JSON array of strings, e.g. ["/bin/sh", "-c", "echo hello"]');
    }
    // Go's decoder replaces an unpaired surrogate escape with U+FFFD.
    args.push(element.replace(LONE_SURROGATE, '\ufffd'));
  }
  return { args, json: true };
}

function parseMaybeJson(rest: string): ParsedArgs {
  if (rest === '') return NONE;
  return parseJson(rest) ?? plain([rest]);
}

function parseMaybeJsonToList(rest: string): ParsedArgs {
  return parseJson(rest) ?? parseStringsWhitespaceDelimited(rest);
}

/** HEALTHCHECK: the type word (CMD/NONE), then the command like CMD's. Splits on bytes, like BuildKit. */
function parseHealthConfig(rest: string): ParsedArgs {
  const cursor = new ByteCursor(rest);
  while (!cursor.atEnd() && !isByteSpace(cursor.peek())) cursor.next();
  const type = cursor.consumed();
  if (type.length === 0) return NONE;
  while (!cursor.atEnd() && isByteSpace(cursor.peek())) cursor.next();
  const command = parseMaybeJson(cursor.rest());
  return { args: [type, ...command.args], json: command.json };
}

const DISPATCH: ReadonlyMap<string, LineParser> = new Map<string, LineParser>([
  ['add', parseMaybeJsonToList],
  ['arg', parseNameOrNameVal],
  ['cmd', parseMaybeJson],
  ['copy', parseMaybeJsonToList],
  ['entrypoint', parseMaybeJson],
  ['env', (rest, escape) => parseNameVal(rest, escape, 'ENV')],
  ['expose', parseStringsWhitespaceDelimited],
  ['from', parseStringsWhitespaceDelimited],
  ['healthcheck', parseHealthConfig],
  ['label', (rest, escape) => parseNameVal(rest, escape, 'LABEL')],
  ['maintainer', parseString],
  ['run', parseMaybeJson],
  ['shell', parseMaybeJson],
  ['stopsignal', parseString],
  ['user', parseString],
  ['volume', parseMaybeJsonToList],
  ['workdir', parseString],
]);

/** The arguments of one instruction (`keyword` lower-cased, not ONBUILD). */
export function parseArguments(keyword: string, rest: string, escapeToken: string): ParsedArgs {
  const parser = DISPATCH.get(keyword);
  return parser === undefined ? parseIgnore() : parser(rest, escapeToken);
}

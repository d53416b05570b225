/**
 * Splitting an instruction line into keyword, builder flags and the argument text, with the quirks of
 * BuildKit's `splitCommand` / `extractBuilderFlags` (moby/buildkit frontend/dockerfile/parser).
 */
import { ByteCursor, byteAsRune } from './bytes.js';
import { isAsciiBlank, trimSpaceGo } from './go-text.js';

export interface SplitCommand {
  /** The keyword as written. */
  readonly cmd: string;
  readonly flags: string[];
  /** The argument text after the flags, trimmed. */
  readonly args: string;
}

/** Collects output pieces and joins them once (no quadratic concatenation). */
export class TextBuilder {
  private parts: string[] = [];
  private size = 0;

  add(text: string): void {
    if (text.length === 0) return;
    this.parts.push(text);
    this.size += text.length;
  }

  get length(): number {
    return this.size;
  }

  toString(): string {
    if (this.parts.length > 1) this.parts = [this.parts.join('')];
    return this.parts[0] ?? '';
  }

  reset(): void {
    this.parts = [];
    this.size = 0;
  }
}

/**
 * Go `regexp.MustCompile("[\t\v\f\r ]+").Split(s, n)` for n = -1 (all) or n = 2 (first split only):
 * every blank run separates two fields, so leading or trailing blanks give an empty first or last field.
 */
export function splitAsciiBlank(text: string, limit: -1 | 2): string[] {
  if (text.length === 0) return [''];
  const out: string[] = [];
  let begin = 0;
  let i = 0;
  while (i < text.length) {
    if (!isAsciiBlank(text.charCodeAt(i))) {
      i++;
      continue;
    }
    if (limit === 2 && out.length === 1) break;
    let j = i + 1;
    while (j < text.length && isAsciiBlank(text.charCodeAt(j))) j++;
    out.push(text.slice(begin, i));
    begin = j;
    i = j;
  }
  out.push(text.slice(begin));
  return out;
}

const DASH = 0x2d;
const SQUOTE = 0x27;
const DQUOTE = 0x22;

/** `unicode.IsSpace(rune(b))` for one byte, as Go's byte-wise loops do it. */
export function isByteSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0x85 || b === 0xa0;
}

/**
 * BuildKit's `extractBuilderFlags`: leading words that start with `--` are flags (quotes removed,
 * escapes applied); a bare `--` ends them. Works on bytes like the original.
 */
export function extractBuilderFlags(line: string, escapeToken: string): { rest: string; flags: string[] } {
  const escape = escapeToken.charCodeAt(0);
  const flags: string[] = [];
  const cursor = new ByteCursor(line);
  const word = new TextBuilder();
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = 0;
  let blankOk = false;
  for (;;) {
    const end = cursor.atEnd();
    const ch = end ? -1 : cursor.peek();
    if (phase === 'spaces') {
      if (end) break;
      if (isByteSpace(ch)) {
        cursor.next();
        continue;
      }
      if (ch !== DASH || !cursor.isSecondDash()) return { rest: cursor.rest(), flags };
      phase = 'word';
    }
    if (end) {
      const text = word.toString();
      if (text !== '--' && (blankOk || text.length > 0)) flags.push(text);
      break;
    }
    if (phase === 'word') {
      if (isByteSpace(ch)) {
        const text = word.toString();
        phase = 'spaces';
        if (text === '--') return { rest: cursor.rest(), flags };
        if (blankOk || text.length > 0) flags.push(text);
        word.reset();
        blankOk = false;
        cursor.next();
        continue;
      }
      if (ch === SQUOTE || ch === DQUOTE) {
        quote = ch;
        blankOk = true;
        phase = 'quote';
        cursor.next();
        continue;
      }
      if (ch === escape) {
        const last = cursor.isLast();
        cursor.next();
        if (last) continue;
      }
      word.add(byteAsRune(cursor.next()));
      continue;
    }
    // phase === 'quote'
    if (ch === quote) {
      phase = 'word';
      cursor.next();
      continue;
    }
    if (ch === escape) {
      const last = cursor.isLast();
      cursor.next();
      if (last) {
        phase = 'word';
        continue;
      }
    }
    word.add(byteAsRune(cursor.next()));
  }
  return { rest: '', flags };
}

/** BuildKit's `splitCommand`: keyword, flags, trimmed argument text. */
export function splitCommand(line: string, escapeToken: string): SplitCommand {
  const trimmed = trimSpaceGo(line);
  const parts = splitAsciiBlank(trimmed, 2);
  const cmd = parts[0] ?? '';
  if (parts.length < 2) return { cmd, flags: [], args: '' };
  const { rest, flags } = extractBuilderFlags(parts[1] ?? '', escapeToken);
  return { cmd, flags, args: trimSpaceGo(rest) };
}

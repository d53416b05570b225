/**
 * Shell patterns of `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/rep}`, with BuildKit's semantics.
 *
 * BuildKit converts the pattern to a Go regular expression and lets Go's leftmost-first engine pick
 * the match. We do not build a RegExp (JavaScript's backtracking engine is exponential on patterns
 * such as `*a*a*a*b`); instead the pattern compiles to a token list that a Pike VM runs in
 * O(text × pattern) time while reproducing Go's priorities exactly:
 *
 * - `*` is Go's `.*` (greedy) or `.*?` (shortest), `?` is `.`; neither matches a newline, because Go's
 *   `.` excludes `\n` without the `s` flag.
 * - `\*`, `\?` and `\\` are literal; `\}` and `\/` drop the backslash (they only escaped the `${}`
 *   delimiters); any other escape is an error, as in BuildKit.
 * - Every other character, including `[` and `]`, is literal: BuildKit has no bracket expressions.
 * - Matching works on code points, as Go's regexp works on runes.
 */

const EOF = -1;
const BOM = 0xfeff;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;
const STAR = 0x2a;
const QUESTION = 0x3f;
const CLOSE_BRACE = 0x7d;
const SLASH = 0x2f;
const DOLLAR = 0x24;
const OPEN_BRACE = 0x7b;

/** One compiled pattern element: a literal code point, `?` (ANY) or `*` (STAR). */
const ANY = -2;
const STAR_TOKEN = -3;
type Token = number;

/** A replacement that would produce more than the caller's limit (checked as the output grows). */
export class OutputLimitError extends Error {
  override readonly name = 'OutputLimitError';
}

function checkLength(text: string, limit: number): string {
  if (text.length > limit) throw new OutputLimitError(`replacement produces more than ${limit} characters`);
  return text;
}

/** A pattern the shell lexer must reject; the lexer turns it into a StagecraftError. */
export class PatternError extends Error {
  override readonly name = 'PatternError';
}

export function codePoints(text: string): number[] {
  const out: number[] = [];
  for (const ch of text) out.push(ch.codePointAt(0) ?? 0);
  return out;
}

/** The string of `cps[start, end)`, built in chunks (flat strings, not one string per character). */
export function fromCodePoints(cps: readonly number[], start = 0, end = cps.length): string {
  const parts: string[] = [];
  const chunk: number[] = [];
  for (let i = start; i < end; i++) {
    const cp = cps[i] ?? EOF;
    chunk.push(cp < 0 || cp > 0x10ffff ? 0xfffd : cp);
    if (chunk.length === 4096) {
      parts.push(String.fromCodePoint(...chunk));
      chunk.length = 0;
    }
  }
  if (chunk.length > 0) parts.push(String.fromCodePoint(...chunk));
  return parts.join('');
}

/** Go's `string(rune)`: EOF and other invalid code points become U+FFFD. */
export function runeString(cp: number): string {
  return cp < 0 || cp > 0x10ffff ? '\ufffd' : String.fromCodePoint(cp);
}

/**
 * Compiles a shell pattern into tokens. Like Go's text/scanner, a byte order mark at the very start
 * of the pattern is skipped.
 */
export function compilePattern(pattern: string): Token[] {
  const cps = codePoints(pattern);
  let pos = cps[0] === BOM ? 1 : 0;
  const tokens: Token[] = [];
  while (pos < cps.length) {
    const cp = cps[pos++] ?? EOF;
    if (cp === STAR) {
      tokens.push(STAR_TOKEN);
    } else if (cp === QUESTION) {
      tokens.push(ANY);
    } else if (cp === BACKSLASH) {
      const next = cps[pos] ?? EOF;
      // `\}` and `\/` escaped the `${}` syntax, not the pattern: the escaped character is read
      // again, as a plain character, on the next round.
      if (next === CLOSE_BRACE || next === SLASH) continue;
      pos++;
      if (next !== STAR && next !== QUESTION && next !== BACKSLASH) {
        throw new PatternError(`invalid escape '\\${runeString(next)}'`);
      }
      tokens.push(next);
    } else {
      tokens.push(cp);
    }
  }
  return tokens;
}

/**
 * Thread list of the Pike VM: ordered by priority, at most one thread per pattern position.
 * `pcs[i] < 0` encodes a star thread that has chosen to consume (`-1 - pc`).
 */
class ThreadList {
  readonly pcs: number[] = [];
  readonly starts: number[] = [];
  private readonly seen: Int32Array;
  private generation = 0;

  constructor(size: number) {
    this.seen = new Int32Array(size).fill(-1);
  }

  clear(): void {
    this.pcs.length = 0;
    this.starts.length = 0;
    this.generation++;
  }

  /** Marks `pc` as visited; false if it already was (a higher-priority thread owns it). */
  visit(pc: number): boolean {
    if (this.seen[pc] === this.generation) return false;
    this.seen[pc] = this.generation;
    return true;
  }

  push(pc: number, start: number): void {
    this.pcs.push(pc);
    this.starts.push(start);
  }
}

/**
 * Follows the empty transitions from `pc` in priority order and appends the resulting threads.
 * A star is Go's `L: alt(body, next)` (greedy) or `alt(next, body)` (shortest).
 */
function addThread(list: ThreadList, tokens: readonly Token[], greedy: boolean, pc: number, start: number): void {
  // Explicit stack (LIFO, so push the lower-priority branch first); entries < 0 are "consume at star".
  const stack = [pc];
  while (stack.length > 0) {
    const item = stack.pop() ?? 0;
    if (item < 0) {
      list.push(item, start);
      continue;
    }
    if (!list.visit(item)) continue;
    if (item < tokens.length && tokens[item] === STAR_TOKEN) {
      if (greedy) stack.push(item + 1, -1 - item);
      else stack.push(-1 - item, item + 1);
    } else {
      list.push(item, start);
    }
  }
}

function accepts(token: Token, cp: number): boolean {
  if (cp === EOF) return false;
  if (token === ANY || token === STAR_TOKEN) return cp !== NEWLINE;
  return token === cp;
}

/**
 * The leftmost-first match of `tokens` in `text` at or after `from` (only at `from` when anchored),
 * as Go's regexp reports it: [start, end) in code points, or undefined.
 */
export function findMatch(tokens: readonly Token[], greedy: boolean, text: readonly number[], from: number, anchored: boolean): [number, number] | undefined {
  const matchPc = tokens.length;
  let current = new ThreadList(matchPc + 1);
  let next = new ThreadList(matchPc + 1);
  let matched: [number, number] | undefined;
  for (let pos = from; ; pos++) {
    if (current.pcs.length === 0 && ((anchored && pos !== from) || matched !== undefined)) break;
    // A new attempt starting here has the lowest priority: leftmost starts win.
    if (matched === undefined && (pos === from || !anchored)) addThread(current, tokens, greedy, 0, pos);
    const cp = pos < text.length ? (text[pos] ?? EOF) : EOF;
    next.clear();
    for (let i = 0; i < current.pcs.length; i++) {
      const pc = current.pcs[i] ?? 0;
      const start = current.starts[i] ?? 0;
      if (pc === matchPc) {
        // First-match mode: this thread outranks every later one.
        matched = [start, pos];
        break;
      }
      if (pc < 0) {
        const starPc = -1 - pc;
        if (accepts(STAR_TOKEN, cp)) addThread(next, tokens, greedy, starPc, start);
      } else if (accepts(tokens[pc] ?? EOF, cp)) {
        addThread(next, tokens, greedy, pc + 1, start);
      }
    }
    if (pos >= text.length) break;
    [current, next] = [next, current];
  }
  return matched;
}

/** `${VAR#pat}` (shortest) and `${VAR##pat}` (longest): removes the matching prefix. */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const tokens = compilePattern(pattern);
  const text = codePoints(value);
  const match = findMatch(tokens, greedy, text, 0, true);
  return match === undefined ? value : fromCodePoints(text, match[1]);
}

/**
 * `${VAR%pat}` and `${VAR%%pat}`: removes the matching suffix. Like BuildKit, reverses both the
 * pattern (keeping each escape before the character it escapes) and the value, and trims a prefix.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversed = trimPrefix(reversePattern(pattern), reverseString(value), greedy);
  return reverseString(reversed);
}

export function reversePattern(pattern: string): string {
  const cps = codePoints(pattern);
  const out = new Array<number>(cps.length);
  const last = cps.length - 1;
  for (let i = 0; i <= last;) {
    const cp = cps[i] ?? EOF;
    const outIndex = last - i;
    if (cp === BACKSLASH && i !== last) {
      out[outIndex - 1] = cp;
      out[outIndex] = cps[i + 1] ?? EOF;
      i += 2;
    } else {
      out[outIndex] = cp;
      i++;
    }
  }
  return fromCodePoints(out);
}

export function reverseString(value: string): string {
  return fromCodePoints(codePoints(value).reverse());
}

/** `${VAR/pat/rep}`: replaces the first (leftmost, longest-star) match; `rep` is taken literally. */
export function replaceFirst(pattern: string, value: string, replacement: string, limit = Infinity): string {
  const tokens = compilePattern(pattern);
  const text = codePoints(value);
  const match = findMatch(tokens, true, text, 0, false);
  if (match === undefined) return value;
  return checkLength(fromCodePoints(text, 0, match[0]) + replacement + fromCodePoints(text, match[1]), limit);
}

/**
 * `${VAR//pat/rep}`: replaces every match, as Go's `Regexp.ReplaceAllString`: an empty match right
 * after a previous match is skipped, and `rep` is a Go template (`$0`/`${0}` is the matched text,
 * `$$` is `$`, other names expand to nothing, a malformed `$` stays).
 */
export function replaceAll(pattern: string, value: string, replacement: string, limit = Infinity): string {
  const tokens = compilePattern(pattern);
  const text = codePoints(value);
  const template = compileTemplate(codePoints(replacement));
  let out = '';
  let lastMatchEnd = 0;
  let searchPos = 0;
  while (searchPos <= text.length) {
    const match = findMatch(tokens, true, text, searchPos, false);
    if (match === undefined) break;
    out += fromCodePoints(text, lastMatchEnd, match[0]);
    if (match[1] > lastMatchEnd || match[0] === 0) {
      out = checkLength(out + expandTemplate(template, fromCodePoints(text, match[0], match[1]), limit - out.length), limit);
    }
    lastMatchEnd = match[1];
    // Advance at least one character.
    searchPos = searchPos + 1 > match[1] ? searchPos + 1 : match[1];
  }
  return checkLength(out + fromCodePoints(text, lastMatchEnd), limit);
}

const NAME_CHAR = /^[\p{L}\p{Nd}_]$/u;

function isNameChar(cp: number): boolean {
  return cp >= 0 && NAME_CHAR.test(runeString(cp));
}

/**
 * Go's `Regexp.expand` for a regular expression without groups, compiled once per replacement: the
 * template's literal runs, with `undefined` where the matched text goes (`$0`, `${0}`).
 */
function compileTemplate(template: readonly number[]): (string | undefined)[] {
  const parts: (string | undefined)[] = [];
  let literal: number[] = [];
  const flush = (): void => {
    if (literal.length > 0) parts.push(fromCodePoints(literal));
    literal = [];
  };
  let i = 0;
  while (i < template.length) {
    const cp = template[i] ?? EOF;
    if (cp !== DOLLAR) {
      literal.push(cp);
      i++;
      continue;
    }
    i++;
    if (template[i] === DOLLAR) {
      literal.push(DOLLAR);
      i++;
      continue;
    }
    const brace = template[i] === OPEN_BRACE;
    let j = brace ? i + 1 : i;
    const nameStart = j;
    while (j < template.length && isNameChar(template[j] ?? EOF)) j++;
    const name = fromCodePoints(template, nameStart, j);
    if (name === '' || (brace && template[j] !== CLOSE_BRACE)) {
      // Malformed reference: the `$` is kept as text.
      literal.push(DOLLAR);
      continue;
    }
    i = brace ? j + 1 : j;
    if (name === '0') {
      flush();
      parts.push(undefined);
    }
  }
  flush();
  return parts;
}

/** The replacement for one match; fails as soon as it passes `limit` characters. */
function expandTemplate(template: readonly (string | undefined)[], matchText: string, limit: number): string {
  let length = 0;
  for (const part of template) length += (part ?? matchText).length;
  if (length > limit) throw new OutputLimitError(`replacement produces more than ${limit} characters`);
  return template.map((part) => part ?? matchText).join('');
}

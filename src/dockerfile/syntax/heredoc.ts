/**
 * Heredoc markers in an instruction line (`RUN <<EOF`, `COPY <<-"A" <<B /dst`), as BuildKit's
 * `heredocsFromLine` / `ParseHeredoc` find them.
 */
import { LexError, shellWords } from './heredoc-words.js';

export interface HeredocMarker {
  readonly name: string;
  readonly fileDescriptor: number;
  readonly expand: boolean;
  readonly chomp: boolean;
}

const MAX_UINT64 = Number(2n ** 64n - 1n);

function isDigit(code: number): boolean {
  return code >= 0x30 && code <= 0x39;
}

/** Go regexp `\s`: `[\t\n\f\r ]`. */
function isReSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d;
}

function quoteCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x27 || c === 0x22) count++;
  }
  return count;
}

/**
 * One word → a heredoc marker, or undefined when it is none. The word must match
 * `^(\d*)<<(-?)\s*([^<]*)$` and its delimiter must lex to exactly one word. Quotes anywhere in the
 * delimiter turn expansion off. Throws LexError when the delimiter cannot be lexed.
 */
export function parseHeredocWord(word: string): HeredocMarker | undefined {
  let i = 0;
  while (i < word.length && isDigit(word.charCodeAt(i))) i++;
  const digits = word.slice(0, i);
  if (!word.startsWith('<<', i)) return undefined;
  i += 2;
  const chomp = word.charCodeAt(i) === 0x2d;
  if (chomp) i++;
  while (i < word.length && isReSpace(word.charCodeAt(i))) i++;
  const rest = word.slice(i);
  if (rest.includes('<')) return undefined;
  if (rest.length === 0) return undefined;
  // Go's strconv.ParseUint with the error ignored: "" → 0, overflow → the maximum.
  const fd = digits === '' ? 0 : Math.min(Number(digits), MAX_UINT64);
  const words = shellWords(rest, { rawQuotes: false, rawEscapes: false });
  if (words.length !== 1) return undefined;
  const wordsRaw = shellWords(rest, { rawQuotes: true, rawEscapes: false });
  if (wordsRaw.length !== words.length) {
    throw new LexError(`internal lexing of heredoc produced inconsistent results: ${rest}`);
  }
  const name = words[0] ?? '';
  return { name, fileDescriptor: fd, chomp, expand: quoteCount(name) === quoteCount(wordsRaw[0] ?? '') };
}

/** All heredoc markers of a line; a line the shell lexer cannot split has none. */
export function heredocsFromLine(line: string): HeredocMarker[] {
  let words: string[];
  try {
    words = shellWords(line, { rawQuotes: true, rawEscapes: true });
  } catch (error) {
    if (error instanceof LexError) return [];
    throw error;
  }
  const markers: HeredocMarker[] = [];
  for (const word of words) {
    const marker = parseHeredocWord(word);
    if (marker !== undefined) markers.push(marker);
  }
  return markers;
}

/** Removes the leading tabs of every line (`<<-`). */
export function chompHeredocContent(content: string): string {
  const out: string[] = [];
  let lineStart = 0;
  while (lineStart < content.length) {
    let i = lineStart;
    while (i < content.length && content.charCodeAt(i) === 0x09) i++;
    const newline = content.indexOf('\n', i);
    const end = newline === -1 ? content.length : newline + 1;
    out.push(content.slice(i, end));
    lineStart = end;
  }
  return out.join('');
}

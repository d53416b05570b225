/**
 * Go's text primitives as BuildKit's parser uses them: `unicode.IsSpace`, `strings.TrimSpace`,
 * `strings.ToLower` (simple case mapping) and `strconv.Quote`. JavaScript's `\s`, `trim()` and
 * `toLowerCase()` differ from Go on a few code points (U+0085, U+FEFF, U+0130, final sigma), and the dump
 * format must match BuildKit byte for byte.
 */

/** Go `unicode.IsSpace`: the Latin-1 spaces plus the Unicode White_Space property. */
export function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0;
  }
  return (
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/** Go's `regexp` `[\t\v\f\r ]` (BuildKit's `reWhitespace`). */
export function isAsciiBlank(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0b || code === 0x0c || code === 0x0d;
}

/** The code point starting at `index`, or the lone surrogate there. */
export function codePointAt(text: string, index: number): number {
  return text.codePointAt(index) ?? 0;
}

function width(cp: number): number {
  return cp > 0xffff ? 2 : 1;
}

/** Index of the first code point at or after `start` that is not a Go space. */
export function skipGoSpace(text: string, start = 0): number {
  let i = start;
  while (i < text.length) {
    const cp = codePointAt(text, i);
    if (!isGoSpace(cp)) break;
    i += width(cp);
  }
  return i;
}

/** Go `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function trimLeftGo(text: string): string {
  const i = skipGoSpace(text);
  return i === 0 ? text : text.slice(i);
}

/** Go `strings.TrimRightFunc(s, unicode.IsSpace)`. */
export function trimRightGo(text: string): string {
  let end = text.length;
  while (end > 0) {
    const unit = text.charCodeAt(end - 1);
    // Every Go space is in the BMP, so a trailing low surrogate is never one.
    if (unit >= 0xdc00 && unit <= 0xdfff) break;
    if (!isGoSpace(unit)) break;
    end--;
  }
  return end === text.length ? text : text.slice(0, end);
}

/** Go `strings.TrimSpace`. */
export function trimSpaceGo(text: string): string {
  return trimRightGo(trimLeftGo(text));
}

/** Go `strings.ToLower`: per code point, simple case mapping (U+0130 → `i`, Σ → σ everywhere). */
export function goToLower(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return text.toLowerCase();
  let out = '';
  for (const ch of text) {
    if (ch === '\u0130') {
      out += 'i';
      continue;
    }
    const lower = ch.toLowerCase();
    // Full case mappings that expand to several code points have no simple mapping in Go.
    out += [...lower].length === 1 ? lower : ch;
  }
  return out;
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function isGoPrint(ch: string, cp: number): boolean {
  if (cp < 0x80) return cp >= 0x20 && cp < 0x7f;
  return PRINTABLE.test(ch);
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}

/**
 * Go `strconv.Quote`: double-quoted, `\"` and `\\` escaped, printable runes kept, `\a\b\f\n\r\t\v`,
 * `\xHH` below U+0020 and for DEL, `\uHHHH` / `\UHHHHHHHH` for other non-printable runes. A lone
 * surrogate (which UTF-8 cannot hold) is quoted as the three bytes of its WTF-8 form, as Go quotes
 * invalid bytes.
 */
export function goQuote(text: string): string {
  let out = '"';
  let runStart = 0;
  let i = 0;
  const flush = (end: number): void => {
    if (end > runStart) out += text.slice(runStart, end);
  };
  while (i < text.length) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x20 && unit < 0x7f && unit !== 0x22 && unit !== 0x5c) {
      i++;
      continue;
    }
    const cp = codePointAt(text, i);
    const w = width(cp);
    const ch = text.slice(i, i + w);
    if (cp >= 0x80 && !(cp >= 0xd800 && cp <= 0xdfff) && isGoPrint(ch, cp)) {
      i += w;
      continue;
    }
    flush(i);
    out += escapeRune(cp);
    i += w;
    runStart = i;
  }
  flush(i);
  return `${out}"`;
}

function escapeRune(cp: number): string {
  switch (cp) {
    case 0x22:
      return '\\"';
    case 0x5c:
      return '\\\\';
    case 0x07:
      return '\\a';
    case 0x08:
      return '\\b';
    case 0x0c:
      return '\\f';
    case 0x0a:
      return '\\n';
    case 0x0d:
      return '\\r';
    case 0x09:
      return '\\t';
    case 0x0b:
      return '\\v';
    default:
      break;
  }
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex(cp, 2)}`;
  if (cp >= 0xd800 && cp <= 0xdfff) {
    return `\\x${hex(0xe0 | (cp >> 12), 2)}\\x${hex(0x80 | ((cp >> 6) & 0x3f), 2)}\\x${hex(0x80 | (cp & 0x3f), 2)}`;
  }
  if (cp < 0x10000) return `\\u${hex(cp, 4)}`;
  return `\\U${hex(cp, 8)}`;
}

/** The UTF-8 bytes of one code point (a lone surrogate as its WTF-8 bytes). */
export function utf8Bytes(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
}

/** Go `unicode.IsLetter`. */
export function isGoLetter(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return /^\p{L}$/u.test(String.fromCodePoint(cp));
}

/** Go `unicode.IsDigit` (decimal digits, Nd). */
export function isGoDigit(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return /^\p{Nd}$/u.test(String.fromCodePoint(cp));
}

/** Character classes with Go's `unicode` semantics, and BuildKit's word splitter. */
import { runeString } from './pattern.js';

const HASH = 0x23;
const DOLLAR = 0x24;
const MINUS = 0x2d;
const QUESTION = 0x3f;

/** Go's `unicode.IsSpace`. */
const WHITE_SPACE = /^\p{White_Space}$/u;
export function isSpace(cp: number): boolean {
  if (cp < 0x80) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d);
  return WHITE_SPACE.test(runeString(cp));
}

/** Go's `unicode.IsDigit` (decimal digits of any script). */
const DIGIT = /^\p{Nd}$/u;
export function isDigit(cp: number): boolean {
  if (cp < 0x80) return cp >= 0x30 && cp <= 0x39;
  return DIGIT.test(runeString(cp));
}

/** Go's `unicode.IsLetter`. */
const LETTER = /^\p{L}$/u;
export function isLetter(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
  return cp >= 0 && LETTER.test(runeString(cp));
}

/** POSIX special parameters ($@, $*, $#, $?, $-, $$, $!, $0); never set in a Dockerfile. */
export function isSpecialParam(cp: number): boolean {
  return cp === 0x40 || cp === 0x2a || cp === HASH || cp === QUESTION || cp === MINUS || cp === DOLLAR || cp === 0x21 || cp === 0x30;
}

/** The whitespace BuildKit allows between `<<` and a heredoc word. */
export function isHeredocSpace(cp: number): boolean {
  return cp === 0x09 || cp === 0x0d || cp === 0x20;
}

/**
 * The partial word being built while splitting. BuildKit's lexer keeps one such buffer per run and
 * clears it whenever a nested `${VAR<op>word}` starts, so text collected before such a substitution
 * in the same word is dropped (`x${A:-y}` splits to `["y"]`). We reproduce that so `processWords`
 * (EXPOSE, heredoc detection) gives the same words as BuildKit.
 */
export interface SharedBuffer {
  text: string;
}

/** What the lexer feeds characters into while it expands a word. */
export interface Splitter {
  addChar(cp: number): void;
  addRawChar(cp: number): void;
  addString(text: string): void;
  addRawString(text: string): void;
  finish(): string[];
}

/** For callers that want only the expanded word: splitting would cost a string per character. */
export const NO_SPLIT: Splitter = {
  addChar: () => undefined,
  addRawChar: () => undefined,
  addString: () => undefined,
  addRawString: () => undefined,
  finish: () => [],
};

export class WordSplitter implements Splitter {
  readonly words: string[] = [];
  private inWord = false;

  constructor(private readonly buf: SharedBuffer) {}

  addChar(cp: number): void {
    if (isSpace(cp)) {
      if (this.inWord && this.buf.text.length !== 0) {
        this.words.push(this.buf.text);
        this.buf.text = '';
        this.inWord = false;
      }
    } else {
      this.addRawChar(cp);
    }
  }

  addRawChar(cp: number): void {
    this.buf.text += runeString(cp);
    this.inWord = true;
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch.codePointAt(0) ?? 0);
  }

  addRawString(text: string): void {
    this.buf.text += text;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.buf.text.length > 0) {
      this.words.push(this.buf.text);
      this.buf.text = '';
      this.inWord = false;
    }
    return this.words;
  }
}

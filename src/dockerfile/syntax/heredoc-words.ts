/**
 * The word splitting BuildKit's parser uses to find heredoc markers (`<<EOF`) in RUN/COPY/ADD lines: its
 * shell lexer run with an empty environment, unset variables kept as written (`SkipUnsetEnv`), escape
 * token always `\`. Only word boundaries and quote handling matter here, not expansion; but the quirks
 * that decide which words exist are kept, including the words buffer that nested `${…}` processing
 * shares with the enclosing word (BuildKit's `shellWord.wordsBuffer`), which drops the text of the word
 * before a `${…}`.
 *
 * Nested `${…}` and quotes are handled by generators driven from an explicit stack, so nesting depth is
 * bounded by memory, not by the call stack.
 */
import { TextBuilder } from './split-command.js';
import { goQuote, isGoDigit, isGoLetter, isGoSpace } from './go-text.js';

const EOF = -1;
const ESCAPE = 0x5c;
const DOLLAR = 0x24;
const LT = 0x3c;
const SQUOTE = 0x27;
const DQUOTE = 0x22;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const COLON = 0x3a;
const SLASH = 0x2f;

/** A lexing failure; the message is BuildKit's. */
export class LexError extends Error {}

type Step<T> = Generator<Step<unknown>, T, unknown>;

function* call<T>(sub: Step<T>): Step<T> {
  // The driver resumes this generator with exactly the value `sub` returned.
  return (yield sub) as T;
}

function drive<T>(root: Step<T>): T {
  const stack: Step<unknown>[] = [root];
  let value: unknown;
  let error: { readonly thrown: unknown } | undefined;
  for (;;) {
    const top = stack[stack.length - 1];
    if (top === undefined) throw new Error('unreachable: empty lexer stack');
    let step: IteratorResult<Step<unknown>, unknown>;
    try {
      step = error !== undefined ? top.throw(error.thrown) : top.next(value);
      error = undefined;
    } catch (thrown) {
      stack.pop();
      if (stack.length === 0) throw thrown;
      error = { thrown };
      continue;
    }
    if (step.done === true) {
      stack.pop();
      if (stack.length === 0) return step.value as T;
      value = step.value;
    } else {
      stack.push(step.value);
      value = undefined;
    }
  }
}

/**
 * Text built by nested `${…}` and quotes: concatenation is O(1) (a tree of parts), flattened once by the
 * top-level word collector, so deeply nested input stays linear (BuildKit copies at every level).
 */
class Rope {
  readonly parts: (string | Rope)[] = [];

  add(part: string | Rope): void {
    if (typeof part === 'string' && part.length === 0) return;
    this.parts.push(part);
  }

  flatten(): string {
    const out: string[] = [];
    const stack: (string | Rope)[] = [this];
    while (stack.length > 0) {
      const item = stack.pop();
      if (item === undefined) break;
      if (typeof item === 'string') out.push(item);
      else for (let i = item.parts.length - 1; i >= 0; i--) stack.push(item.parts[i] ?? '');
    }
    return out.join('');
  }
}

function joined(...parts: (string | Rope)[]): Rope {
  const rope = new Rope();
  for (const part of parts) rope.add(part);
  return rope;
}

function flat(text: string | Rope): string {
  return typeof text === 'string' ? text : text.flatten();
}

class Words {
  readonly words: string[] = [];
  inWord = false;

  constructor(private readonly buf: TextBuilder) {}

  addChar(ch: number): void {
    if (isGoSpace(ch)) {
      if (this.inWord && this.buf.length !== 0) {
        this.words.push(this.buf.toString());
        this.buf.reset();
        this.inWord = false;
      }
      return;
    }
    this.addRawChar(ch);
  }

  addRawChar(ch: number): void {
    this.buf.add(String.fromCodePoint(ch));
    this.inWord = true;
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch.codePointAt(0) ?? 0);
  }

  addRawString(text: string): void {
    this.buf.add(text);
    this.inWord = true;
  }

  getWords(): string[] {
    if (this.buf.length > 0) {
      this.words.push(this.buf.toString());
      this.buf.reset();
      this.inWord = false;
    }
    return this.words;
  }
}

function isSpecialParam(ch: number): boolean {
  // @ * # ? - $ ! 0
  return ch === 0x40 || ch === 0x2a || ch === 0x23 || ch === 0x3f || ch === 0x2d || ch === 0x24 || ch === 0x21 || ch === 0x30;
}

function isHeredocWhitespace(ch: number): boolean {
  return ch === 0x09 || ch === 0x0d || ch === 0x20;
}

function runeString(ch: number): string {
  return ch < 0 ? '\ufffd' : String.fromCodePoint(ch);
}

class Lexer {
  private pos = 0;
  private rawEscapes: boolean;
  /** The words buffer every nested level shares, as in BuildKit. */
  private readonly wordsBuffer = new TextBuilder();

  constructor(
    private readonly text: string,
    private readonly rawQuotes: boolean,
    rawEscapes: boolean,
  ) {
    this.rawEscapes = rawEscapes;
    // Go's text/scanner skips a byte order mark at the start of its input.
    if (text.charCodeAt(0) === 0xfeff) this.pos = 1;
  }

  private peek(): number {
    if (this.pos >= this.text.length) return EOF;
    return this.text.codePointAt(this.pos) ?? EOF;
  }

  private next(): number {
    const ch = this.peek();
    if (ch !== EOF) this.pos += ch > 0xffff ? 2 : 1;
    return ch;
  }

  /** The top level: the whole input, split into words. */
  words(): string[] {
    return drive(this.processTop());
  }

  private *processTop(): Step<string[]> {
    this.wordsBuffer.reset();
    const words = new Words(this.wordsBuffer);
    while (this.peek() !== EOF) {
      let ch = this.peek();
      if (ch === DOLLAR) {
        words.addString(flat(yield* call(this.processDollar())));
        continue;
      }
      if (ch === LT || ch === SQUOTE || ch === DQUOTE) {
        const tmp = ch === LT ? this.processPossibleHeredoc() : ch === SQUOTE ? this.processSingleQuote() : yield* call(this.processDoubleQuote());
        words.addRawString(flat(tmp));
        continue;
      }
      ch = this.next();
      if (ch === ESCAPE) {
        if (this.rawEscapes) words.addRawChar(ch);
        ch = this.next();
        if (ch === EOF) break;
        words.addRawChar(ch);
      } else {
        words.addChar(ch);
      }
    }
    return words.getWords();
  }

  /**
   * A nested `processStopOn` (inside `${…}`): its words are thrown away, but it starts by clearing the
   * shared words buffer and leaves it empty, which the enclosing word feels.
   */
  private *processStopOn(stop: number, rawEscapes: boolean): Step<Rope> {
    const result = new Rope();
    this.wordsBuffer.reset();
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      while (this.peek() !== EOF) {
        let ch = this.peek();
        if (ch === stop) {
          this.next();
          return result;
        }
        if (ch === DOLLAR) {
          result.add(yield* call(this.processDollar()));
          continue;
        }
        if (ch === LT) {
          result.add(this.processPossibleHeredoc());
          continue;
        }
        if (ch === SQUOTE) {
          result.add(this.processSingleQuote());
          continue;
        }
        if (ch === DQUOTE) {
          result.add(yield* call(this.processDoubleQuote()));
          continue;
        }
        ch = this.next();
        if (ch === ESCAPE) {
          if (this.rawEscapes) result.add(runeString(ch));
          ch = this.next();
          if (ch === EOF) break;
        }
        result.add(runeString(ch));
      }
      throw new LexError(`unexpected end of statement while looking for matching ${runeString(stop)}`);
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    const result = new TextBuilder();
    let ch = this.next();
    if (this.rawQuotes) result.add(runeString(ch));
    for (;;) {
      ch = this.next();
      if (ch === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === SQUOTE) {
        if (this.rawQuotes) result.add(runeString(ch));
        return result.toString();
      }
      result.add(runeString(ch));
    }
  }

  private *processDoubleQuote(): Step<Rope> {
    const result = new Rope();
    let ch = this.next();
    if (this.rawQuotes) result.add(runeString(ch));
    for (;;) {
      const peeked = this.peek();
      if (peeked === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (peeked === DQUOTE) {
        ch = this.next();
        if (this.rawQuotes) result.add(runeString(ch));
        return result;
      }
      if (peeked === DOLLAR) {
        result.add(yield* call(this.processDollar()));
        continue;
      }
      ch = this.next();
      if (ch === ESCAPE) {
        if (this.rawEscapes) result.add(runeString(ch));
        const after = this.peek();
        if (after === EOF) continue;
        if (after === DQUOTE || after === DOLLAR || after === ESCAPE) ch = this.next();
      }
      result.add(runeString(ch));
    }
  }

  private *processDollar(): Step<string | Rope> {
    this.next();
    if (this.peek() !== LBRACE) {
      const name = this.processName();
      return name === '' ? '$' : `$${name}`;
    }
    this.next();
    const first = this.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === LBRACE || first === RBRACE || first === COLON) throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let chs = runeString(ch);
    if (ch === RBRACE) return `\${${name}}`;
    let nullIsUnset = false;
    if (ch === COLON) {
      // Go's `fallthrough`: the modifier branch runs whatever character follows the colon.
      nullIsUnset = true;
      ch = this.next();
      chs += runeString(ch);
    }
    if (nullIsUnset || ch === 0x2b || ch === 0x2d || ch === 0x3f || ch === 0x23 || ch === 0x25) {
      // + - ? # %
      const rawEscapes = ch === 0x23 || ch === 0x25;
      if (nullIsUnset && rawEscapes) throw new LexError(`unsupported modifier (${chs}) in substitution`);
      let word: Rope;
      try {
        word = yield* call(this.processStopOn(RBRACE, rawEscapes));
      } catch (error) {
        if (this.peek() === EOF) throw new LexError("syntax error: missing '}'");
        throw error;
      }
      return joined(`\${${name}${chs}`, word, '}');
    }
    switch (ch) {
      case SLASH: {
        if (this.peek() === SLASH) this.next();
        let pattern: Rope;
        try {
          pattern = yield* call(this.processStopOn(SLASH, true));
        } catch (error) {
          if (this.peek() === EOF) throw new LexError("syntax error: missing '/' in ${}");
          throw error;
        }
        let replacement: Rope;
        try {
          replacement = yield* call(this.processStopOn(RBRACE, true));
        } catch (error) {
          if (this.peek() === EOF) throw new LexError("syntax error: missing '}'");
          throw error;
        }
        return joined(`\${${name}/`, pattern, '/', replacement, '}');
      }
      default:
        throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processName(): string {
    const name = new TextBuilder();
    while (this.peek() !== EOF) {
      let ch = this.peek();
      if (name.length === 0 && isGoDigit(ch)) {
        while (this.peek() !== EOF && isGoDigit(this.peek())) {
          ch = this.next();
          name.add(runeString(ch));
        }
        return name.toString();
      }
      if (name.length === 0 && isSpecialParam(ch)) {
        return runeString(this.next());
      }
      if (!isGoLetter(ch) && !isGoDigit(ch) && ch !== 0x5f) break;
      name.add(runeString(this.next()));
    }
    return name.toString();
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== LT) return '<';
    this.next();
    let space = '';
    while (isHeredocWhitespace(this.peek())) space += runeString(this.next());
    return `<<${space}`;
  }
}

/**
 * BuildKit's `Lex.ProcessWords` with an empty environment and `SkipUnsetEnv`. Throws LexError with
 * BuildKit's message (`failed to process "…": …`).
 */
export function shellWords(text: string, options: { rawQuotes: boolean; rawEscapes: boolean }): string[] {
  try {
    return new Lexer(text, options.rawQuotes, options.rawEscapes).words();
  } catch (error) {
    if (error instanceof LexError) throw new LexError(`failed to process ${goQuote(text)}: ${error.message}`);
    throw error;
  }
}

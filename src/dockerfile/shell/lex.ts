/**
 * Dockerfile variable substitution on one word, with the behaviour of BuildKit's shell lexer
 * (frontend/dockerfile/shell): `$VAR`, `${VAR}`, the `:-` `-` `:+` `+` `:?` `?` `#` `##` `%` `%%` `/`
 * `//` modifiers, single and double quotes, the escape token (backslash or backtick), and splitting
 * into words. It also reports which variable names were used and found (`matched`) or not found
 * (`unmatched`), for build-arg accounting.
 */
import { StagecraftError } from '../../core/index.js';

export type EnvLookup = (name: string) => string | undefined;

export interface ShellLexOptions {
  readonly escapeToken?: '\\' | '`';
  /** Keep quote characters in the result. */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  readonly rawEscapes?: boolean;
  /** Leave references to unset variables as written. */
  readonly skipUnsetEnv?: boolean;
  /** Treat quotes as ordinary characters. */
  readonly skipProcessQuotes?: boolean;
}

export interface WordResult {
  readonly result: string;
  readonly words: readonly string[];
  readonly matched: ReadonlySet<string>;
  readonly unmatched: ReadonlySet<string>;
}

/** An expansion error; the lexer wraps it with the word being processed. */
class LexError extends Error {}

const EOF = -1;

// Go's unicode.IsSpace: Latin-1 spaces plus the White_Space property.
const SPACE_RE = /^[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]$/u;
const LETTER_RE = /^\p{L}$/u;
const DIGIT_RE = /^\p{Nd}$/u;

function isSpace(ch: string): boolean {
  return SPACE_RE.test(ch);
}

class Scanner {
  readonly #chars: string[];
  #pos = 0;

  constructor(text: string) {
    this.#chars = Array.from(text);
  }

  peek(): string | typeof EOF {
    return this.#pos < this.#chars.length ? (this.#chars[this.#pos] ?? EOF) : EOF;
  }

  next(): string | typeof EOF {
    const ch = this.peek();
    if (ch !== EOF) this.#pos++;
    return ch;
  }
}

class Words {
  readonly words: string[] = [];
  #buf = '';
  #inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.#inWord && this.#buf !== '') {
        this.words.push(this.#buf);
        this.#buf = '';
        this.#inWord = false;
      }
    } else {
      this.addRawChar(ch);
    }
  }

  addRawChar(ch: string): void {
    this.#buf += ch;
    this.#inWord = true;
  }

  addString(text: string): void {
    for (const ch of text) this.addChar(ch);
  }

  addRawString(text: string): void {
    this.#buf += text;
    this.#inWord = true;
  }

  finish(): string[] {
    if (this.#buf !== '') {
      this.words.push(this.#buf);
      this.#buf = '';
      this.#inWord = false;
    }
    return this.words;
  }
}

class WordProcessor {
  readonly #scanner: Scanner;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();
  #rawEscapes: boolean;

  constructor(text: string, private readonly options: Required<ShellLexOptions>, private readonly env: EnvLookup) {
    this.#scanner = new Scanner(text);
    this.#rawEscapes = options.rawEscapes;
  }

  processStopOn(stop: string | typeof EOF, rawEscapes: boolean): [string, string[]] {
    const saved = this.#rawEscapes;
    this.#rawEscapes = rawEscapes;
    try {
      return this.#processStopOn(stop);
    } finally {
      this.#rawEscapes = saved;
    }
  }

  #processStopOn(stop: string | typeof EOF): [string, string[]] {
    const s = this.#scanner;
    let result = '';
    const words = new Words();
    while (s.peek() !== EOF) {
      const ch = s.peek();
      if (stop !== EOF && ch === stop) {
        s.next();
        return [result, words.finish()];
      }
      if (ch === '$') {
        const value = this.#processDollar();
        result += value;
        words.addString(value);
      } else if (ch === '<') {
        const value = this.#processPossibleHeredoc();
        result += value;
        words.addRawString(value);
      } else if (!this.options.skipProcessQuotes && (ch === "'" || ch === '"')) {
        const value = ch === "'" ? this.#processSingleQuote() : this.#processDoubleQuote();
        result += value;
        words.addRawString(value);
      } else {
        let c = s.next();
        if (c === EOF) break;
        if (c === this.options.escapeToken) {
          if (this.#rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          c = s.next();
          if (c === EOF) break;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
    }
    if (stop !== EOF) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
    return [result, words.finish()];
  }

  #processSingleQuote(): string {
    const s = this.#scanner;
    let result = '';
    const open = s.next();
    if (this.options.rawQuotes && open !== EOF) result += open;
    for (;;) {
      const ch = s.next();
      if (ch === EOF) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.options.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  #processDoubleQuote(): string {
    const s = this.#scanner;
    let result = '';
    const open = s.next();
    if (this.options.rawQuotes && open !== EOF) result += open;
    for (;;) {
      const peek = s.peek();
      if (peek === EOF) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (peek === '"') {
        s.next();
        if (this.options.rawQuotes) result += '"';
        return result;
      }
      if (peek === '$') {
        result += this.#processDollar();
        continue;
      }
      let ch = s.next();
      if (ch === EOF) continue;
      if (ch === this.options.escapeToken) {
        if (this.#rawEscapes) result += ch;
        const after = s.peek();
        if (after === EOF) continue;
        if (after === '"' || after === '$' || after === this.options.escapeToken) {
          const escaped = s.next();
          if (escaped !== EOF) ch = escaped;
        }
      }
      result += ch;
    }
  }

  #getEnv(name: string): string | undefined {
    const value = this.env(name);
    if (value === undefined) this.unmatched.add(name);
    else this.matched.add(name);
    return value;
  }

  #processName(): string {
    const s = this.#scanner;
    let name = '';
    for (;;) {
      const ch = s.peek();
      if (ch === EOF) break;
      if (name === '' && DIGIT_RE.test(ch)) {
        for (let d = s.peek(); d !== EOF && DIGIT_RE.test(d); d = s.peek()) name += s.next() as string;
        return name;
      }
      if (name === '' && '@*#?-$!0'.includes(ch)) {
        s.next();
        return ch;
      }
      if (!LETTER_RE.test(ch) && !DIGIT_RE.test(ch) && ch !== '_') break;
      name += s.next() as string;
    }
    return name;
  }

  #processDollar(): string {
    const s = this.#scanner;
    s.next();
    if (s.peek() !== '{') {
      const name = this.#processName();
      if (name === '') return '$';
      const value = this.#getEnv(name);
      if (value === undefined && this.options.skipUnsetEnv) return `$${name}`;
      return value ?? '';
    }
    s.next();
    const first = s.peek();
    if (first === EOF) throw new LexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.#processName();
    let ch = s.next();
    if (ch === EOF) throw new LexError("syntax error: missing '}'");
    let chs: string = ch;
    let nullIsUnset = false;
    switch (ch) {
      case '}': {
        const value = this.#getEnv(name);
        if (value === undefined && this.options.skipUnsetEnv) return `\${${name}}`;
        return value ?? '';
      }
      case ':':
      case '+':
      case '-':
      case '?':
      case '#':
      case '%': {
        if (ch === ':') {
          nullIsUnset = true;
          ch = s.next();
          chs += ch === EOF ? '' : ch;
        }
        const rawEscapes = ch === '#' || ch === '%';
        if (nullIsUnset && rawEscapes) throw new LexError(`unsupported modifier (${chs}) in substitution`);
        let word: string;
        try {
          [word] = this.processStopOn('}', rawEscapes);
        } catch (error) {
          if (s.peek() === EOF) throw new LexError("syntax error: missing '}'");
          throw error;
        }
        const value = this.#getEnv(name);
        if (value === undefined && this.options.skipUnsetEnv) return `\${${name}${chs}${word}}`;
        const set = value !== undefined;
        const empty = value === undefined || value === '';
        if (ch === EOF) throw new LexError("syntax error: missing '}'");
        switch (ch) {
          case '-':
            return !set || (nullIsUnset && empty) ? word : (value ?? '');
          case '+':
            return !set || (nullIsUnset && empty) ? '' : word;
          case '?':
            if (!set) throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
            if (nullIsUnset && empty) throw new LexError(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
            return value ?? '';
          case '%':
          case '#': {
            let pattern = word;
            let greedy = false;
            if (pattern.startsWith(ch)) {
              greedy = true;
              pattern = pattern.slice(1);
            }
            return ch === '%' ? trimSuffix(pattern, value ?? '', greedy) : trimPrefix(pattern, value ?? '', greedy);
          }
          default:
            throw new LexError(`unsupported modifier (${chs}) in substitution`);
        }
      }
      case '/': {
        const replaceAll = s.peek() === '/';
        if (replaceAll) s.next();
        let pattern: string;
        let replacement: string;
        try {
          [pattern] = this.processStopOn('/', true);
        } catch (error) {
          if (s.peek() === EOF) throw new LexError("syntax error: missing '/' in ${}");
          throw error;
        }
        try {
          [replacement] = this.processStopOn('}', true);
        } catch (error) {
          if (s.peek() === EOF) throw new LexError("syntax error: missing '}'");
          throw error;
        }
        const value = this.#getEnv(name);
        if (value === undefined && this.options.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
        const re = patternToRegex(pattern, true, false, replaceAll);
        const subject = value ?? '';
        return subject.replace(re, () => replacement);
      }
      default:
        throw new LexError(`unsupported modifier (${chs}) in substitution`);
    }
  }

  #processPossibleHeredoc(): string {
    const s = this.#scanner;
    s.next();
    if (s.peek() !== '<') return '<';
    s.next();
    let space = '';
    for (let ch = s.peek(); ch === '\t' || ch === '\r' || ch === ' '; ch = s.peek()) space += s.next() as string;
    return `<<${space}`;
  }
}

/** A shell glob (`*`, `?`, `\` escapes) as a regular expression, like BuildKit's converter. */
function patternToRegex(pattern: string, greedy: boolean, anchored: boolean, global = false): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  const star = greedy ? '[^\\n]*' : '[^\\n]*?';
  for (let i = 0; i < chars.length; i++) {
    const tok = chars[i] ?? '';
    switch (tok) {
      case '*':
        out += star;
        continue;
      case '?':
        out += '[^\\n]';
        continue;
      case '\\': {
        const next = chars[i + 1];
        if (next === '}' || next === '/') continue;
        if (next !== '*' && next !== '?' && next !== '\\') {
          throw new LexError(`invalid pattern (${pattern}) in substitution: invalid escape '\\${next ?? ''}'`);
        }
        out += `\\${next}`;
        i++;
        continue;
      }
      case '[': case ']': case '{': case '}': case '.': case '+': case '(': case ')': case '|': case '^': case '$':
        out += `\\${tok}`;
        continue;
      default:
        out += tok;
    }
  }
  return new RegExp(out, global ? 'gu' : 'u');
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const match = patternToRegex(pattern, greedy, true).exec(value);
  return match === null ? value : value.slice(match.index + match[0].length);
}

/** Pattern characters reversed, keeping each `\x` escape pair in order. */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out = new Array<string>(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = chars[i] ?? '';
    const at = last - i;
    if (tok === '\\' && i !== last) {
      out[at - 1] = tok;
      out[at] = chars[i + 1] ?? '';
      i += 2;
    } else {
      out[at] = tok;
      i++;
    }
  }
  return out.join('');
}

function reverseString(text: string): string {
  return Array.from(text).reverse().join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefix(reversePattern(pattern), reverseString(value), greedy));
}

export class ShellLex {
  readonly #options: Required<ShellLexOptions>;

  constructor(options: ShellLexOptions = {}) {
    this.#options = {
      escapeToken: options.escapeToken ?? '\\',
      rawQuotes: options.rawQuotes ?? false,
      rawEscapes: options.rawEscapes ?? false,
      skipUnsetEnv: options.skipUnsetEnv ?? false,
      skipProcessQuotes: options.skipProcessQuotes ?? false,
    };
  }

  /** One word: quotes removed, variables expanded. */
  processWord(word: string, env: EnvLookup): string {
    return this.processWordWithMatches(word, env).result;
  }

  /** The word split into words as a shell would, after expansion. */
  processWords(word: string, env: EnvLookup): string[] {
    return [...this.processWordWithMatches(word, env).words];
  }

  processWordWithMatches(word: string, env: EnvLookup): WordResult {
    const processor = new WordProcessor(word, this.#options, env);
    try {
      const [result, words] = processor.processStopOn(EOF, this.#options.rawEscapes);
      return { result, words, matched: processor.matched, unmatched: processor.unmatched };
    } catch (error) {
      if (error instanceof LexError) {
        throw new StagecraftError('SHELL_EXPANSION', `failed to process "${word}": ${error.message}`, {
          hint: 'check the quoting and the ${...} syntax; quote a literal $ as \\$',
        });
      }
      throw error;
    }
  }
}

/** An EnvLookup over `KEY=VALUE` strings (the last one of a key wins). */
export function envFromList(list: readonly string[]): EnvLookup {
  const map = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    map.set(eq === -1 ? entry : entry.slice(0, eq), eq === -1 ? '' : entry.slice(eq + 1));
  }
  return (name) => map.get(name);
}

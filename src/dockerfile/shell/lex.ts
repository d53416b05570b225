import { StagecraftError } from '../../core/index.js';
import { CodePointScanner, EOF } from './scanner.js';
import { DOCKERFILE_LIMITS, clip, formatSize } from '../limits.js';
import { OutputLimitError, PatternError, replaceAll, replaceFirst, runeString, trimPrefix, trimSuffix } from './pattern.js';
import { NO_SPLIT, WordSplitter, isDigit, isHeredocSpace, isLetter, isSpecialParam, type SharedBuffer, type Splitter } from './words.js';

/** Looks a variable up; `undefined` means unset (an empty string is set). */
export type EnvLookup = (name: string) => string | undefined;

export interface ShellLexOptions {
  /** The Dockerfile escape character (`# escape=` directive); default backslash. */
  readonly escapeToken?: '\\' | '`';
  /** Keep quote characters in the result (they still group and protect their content). */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result (the escaped character is still taken literally). */
  readonly rawEscapes?: boolean;
  /** Leave references to unset variables as written (`$X`, `${X}`, `${X:-d}`…) instead of expanding. */
  readonly skipUnsetEnv?: boolean;
  /** Treat quote characters as ordinary characters. */
  readonly skipProcessQuotes?: boolean;
}

export interface WordResult {
  /** The word with quotes removed and variables expanded. */
  readonly result: string;
  /** The word split like BuildKit's `ProcessWords` (splitting happens after expansion). */
  readonly words: readonly string[];
  /** Names referenced in the word that were set. */
  readonly matched: ReadonlySet<string>;
  /** Names referenced in the word that were unset. */
  readonly unmatched: ReadonlySet<string>;
}

const DOLLAR = 0x24;
const LESS = 0x3c;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COLON = 0x3a;
const PLUS = 0x2b;
const MINUS = 0x2d;
const QUESTION = 0x3f;
const HASH = 0x23;
const PERCENT = 0x25;
const SLASH = 0x2f;
const UNDERSCORE = 0x5f;

/**
 * Nesting bound for `${…${…}}`: real Dockerfiles nest a few levels; the bound keeps absurd input
 * from overflowing the stack (BuildKit has none, Go stacks grow) and fails it with SHELL_EXPANSION.
 */
const MAX_NESTING = 64;

const SUPPORTED_FORMS = 'Supported forms: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt}, ' +
  '${VAR:?message}, ${VAR?message}, ${VAR#pattern}, ${VAR##pattern}, ${VAR%pattern}, ${VAR%%pattern}, ' +
  '${VAR/pattern/replacement}, ${VAR//pattern/replacement}.';
const MISSING_BRACE = "syntax error: missing '}'";
const MISSING_BRACE_HINT = 'Close the substitution with "}", e.g. ${NAME} or ${NAME:-default}.';

/** A lexing failure before it is wrapped with the word it came from. */
class ExpansionError extends Error {
  constructor(message: string, readonly hint: string, readonly atEndIsMissingBrace = true) {
    super(message);
  }
}

function limitError(limit: number): ExpansionError {
  return new ExpansionError(
    limit >= DOCKERFILE_LIMITS.instructionExpansionChars
      ? `variables expand to more than ${formatSize(limit, 'characters')}, the limit for one instruction`
      : `variables expand to more than ${formatSize(limit, 'characters')}, what is left of the limits ` +
        `(${formatSize(DOCKERFILE_LIMITS.instructionExpansionChars, 'characters')} for one instruction, ${formatSize(DOCKERFILE_LIMITS.outputChars, 'characters')} for the whole Dockerfile)`,
    'A chain such as ENV B=$A$A, ENV C=$B$B… doubles a value at every step; build large values in a RUN step ' +
      'or a file instead of in ARG/ENV.',
    false,
  );
}

interface Segment {
  readonly result: string;
  readonly words: string[];
}

/** One expansion of one word: the scanner position, the flags in effect and what was looked up. */
class WordRun {
  private readonly scanner: CodePointScanner;
  private readonly wordsBuffer: SharedBuffer = { text: '' };
  private rawEscapes: boolean;
  private depth = 0;
  /**
   * Characters this run has produced: the input's own plus every value, trimmed value and replacement
   * it inserted. Nested results are not counted again when the outer word takes them, so this bounds
   * every string the run builds.
   */
  private produced: number;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    private readonly options: Required<ShellLexOptions>,
    private readonly escapeToken: number,
    word: string,
    private readonly env: EnvLookup,
    private readonly capture: boolean,
    private readonly split: boolean,
    private readonly limit: number,
  ) {
    this.scanner = new CodePointScanner(word);
    this.rawEscapes = options.rawEscapes;
    this.produced = word.length;
    if (this.produced > limit) throw limitError(limit);
  }

  /** Counts `text` as produced (see `produced`), failing as soon as the limit is passed. */
  private charge(text: string): string {
    this.produced += text.length;
    if (this.produced > this.limit) throw limitError(this.limit);
    return text;
  }

  run(): Segment {
    return this.processStopOn(EOF, this.rawEscapes);
  }

  /** Reads up to `stopChar` (consumed) or the end of input, expanding as it goes. */
  private processStopOn(stopChar: number, rawEscapes: boolean): Segment {
    if (++this.depth > MAX_NESTING) {
      throw new ExpansionError(`substitutions are nested more than ${MAX_NESTING} levels deep`, 'Simplify the nested ${...} substitutions.', false);
    }
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      return this.readUntil(stopChar);
    } finally {
      this.rawEscapes = saved;
      this.depth--;
    }
  }

  private readUntil(stopChar: number): Segment {
    const sc = this.scanner;
    let result = '';
    this.wordsBuffer.text = '';
    const words: Splitter = this.split ? new WordSplitter(this.wordsBuffer) : NO_SPLIT;
    while (sc.peek() !== EOF) {
      let ch = sc.peek();
      if (stopChar !== EOF && ch === stopChar) {
        sc.next();
        return { result, words: words.finish() };
      }
      const special = this.specialValue(ch);
      if (special !== undefined) {
        result += special;
        if (ch === DOLLAR) words.addString(special);
        else words.addRawString(special);
        continue;
      }
      ch = sc.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) {
          words.addRawChar(ch);
          result += runeString(ch);
        }
        // The escape token escapes the next character; at the end of input it is dropped.
        ch = sc.next();
        if (ch === EOF) break;
        words.addRawChar(ch);
      } else {
        words.addChar(ch);
      }
      result += runeString(ch);
    }
    if (stopChar !== EOF) {
      throw new ExpansionError(`unexpected end of statement while looking for matching ${runeString(stopChar)}`, `Add the missing "${runeString(stopChar)}".`);
    }
    return { result, words: words.finish() };
  }

  /** Handles a character with its own syntax (`$`, `<`, quotes); undefined for ordinary ones. */
  private specialValue(ch: number): string | undefined {
    switch (ch) {
      case DOLLAR:
        return this.processDollar();
      case LESS:
        return this.processPossibleHeredoc();
      case SINGLE_QUOTE:
        return this.options.skipProcessQuotes ? undefined : this.processSingleQuote();
      case DOUBLE_QUOTE:
        return this.options.skipProcessQuotes ? undefined : this.processDoubleQuote();
      default:
        return undefined;
    }
  }

  /** Everything up to the next `'` is literal; a single quote cannot be escaped inside. */
  private processSingleQuote(): string {
    const sc = this.scanner;
    let result = '';
    const open = sc.next();
    if (this.options.rawQuotes) result += runeString(open);
    for (;;) {
      const ch = sc.next();
      if (ch === EOF) {
        throw new ExpansionError('unexpected end of statement while looking for matching single-quote', this.quoteHint("'"));
      }
      if (ch === SINGLE_QUOTE) {
        if (this.options.rawQuotes) result += runeString(ch);
        return result;
      }
      result += runeString(ch);
    }
  }

  /** Up to the next unescaped `"`: `$` expands; the escape token escapes only `"`, `$` and itself. */
  private processDoubleQuote(): string {
    const sc = this.scanner;
    let result = '';
    const open = sc.next();
    if (this.options.rawQuotes) result += runeString(open);
    for (;;) {
      const peeked = sc.peek();
      if (peeked === EOF) {
        throw new ExpansionError('unexpected end of statement while looking for matching double-quote', this.quoteHint('"'));
      }
      if (peeked === DOUBLE_QUOTE) {
        const close = sc.next();
        if (this.options.rawQuotes) result += runeString(close);
        return result;
      }
      if (peeked === DOLLAR) {
        result += this.processDollar();
        continue;
      }
      let ch = sc.next();
      if (ch === this.escapeToken) {
        if (this.rawEscapes) result += runeString(ch);
        const after = sc.peek();
        // An escape token right before the end: the loop reports the unclosed quote.
        if (after === EOF) continue;
        if (after === DOUBLE_QUOTE || after === DOLLAR || after === this.escapeToken) ch = sc.next();
      }
      result += runeString(ch);
    }
  }

  private quoteHint(quote: string): string {
    const escape = runeString(this.escapeToken);
    return `Close the ${quote} quote, or escape a literal quote as ${escape}${quote}.`;
  }

  /** `$NAME`, `${NAME}` or `${NAME<modifier>…}`; the scanner is at the `$`. */
  private processDollar(): string {
    const sc = this.scanner;
    sc.next();
    if (sc.peek() !== OPEN_BRACE) {
      const name = this.processName();
      if (name === '') return '$';
      const [value, set] = this.getEnv(name);
      if (!set && this.options.skipUnsetEnv) return `$${name}`;
      return this.charge(value);
    }
    sc.next();
    const first = sc.peek();
    if (first === EOF) throw new ExpansionError(MISSING_BRACE, MISSING_BRACE_HINT);
    if (first === OPEN_BRACE || first === CLOSE_BRACE || first === COLON) {
      throw new ExpansionError('syntax error: bad substitution', 'A substitution needs a variable name, e.g. ${NAME}; escape a literal dollar sign as \\$ (or `$ with the backtick escape).');
    }
    const name = this.processName();
    let ch = sc.next();
    let chs = runeString(ch);

    if (ch === CLOSE_BRACE) {
      const [value, set] = this.getEnv(name);
      if (!set && this.options.skipUnsetEnv) return `\${${name}}`;
      return this.charge(value);
    }
    if (ch === COLON || ch === PLUS || ch === MINUS || ch === QUESTION || ch === HASH || ch === PERCENT) {
      const nullIsUnset = ch === COLON;
      if (nullIsUnset) {
        ch = sc.next();
        chs += runeString(ch);
      }
      return this.processModifier(name, ch, chs, nullIsUnset);
    }
    if (ch === SLASH) return this.processReplace(name);
    if (ch === EOF) throw new ExpansionError(MISSING_BRACE, MISSING_BRACE_HINT);
    throw unsupportedModifier(chs);
  }

  /** `${NAME[:]op word}` for op in `- + ? # %` (after `:` any character reaches here, as in BuildKit). */
  private processModifier(name: string, op: number, chs: string, nullIsUnset: boolean): string {
    // Patterns keep their escapes: `\*` must reach the pattern compiler.
    const isPattern = op === HASH || op === PERCENT;
    if (nullIsUnset && isPattern) throw unsupportedModifier(chs);
    let word = this.nested(CLOSE_BRACE, isPattern, MISSING_BRACE, MISSING_BRACE_HINT);

    const [value, set] = this.getEnv(name);
    if (!set && this.options.skipUnsetEnv) return `\${${name}${chs}${word}}`;

    const unsetOrNull = !set || (nullIsUnset && value === '');
    switch (op) {
      case MINUS:
        return unsetOrNull ? word : this.charge(value);
      case PLUS:
        return unsetOrNull ? '' : word;
      case QUESTION: {
        if (!set || (nullIsUnset && value === '')) {
          const message = word !== '' ? word : !set ? 'is not allowed to be unset' : 'is not allowed to be empty';
          throw new ExpansionError(`${name}: ${message}`, `Set ${name} with ARG or ENV, or pass --build-arg ${name}=<value>.`);
        }
        return this.charge(value);
      }
      case HASH:
      case PERCENT: {
        // One operator character is the shortest match, two the longest.
        const greedy = word.length > 0 && word.codePointAt(0) === op;
        if (greedy) word = word.slice(1);
        try {
          return this.charge(op === PERCENT ? trimSuffix(word, value, greedy) : trimPrefix(word, value, greedy));
        } catch (error) {
          throw patternFailure(word, error);
        }
      }
      default:
        throw unsupportedModifier(chs);
    }
  }

  /** `${NAME/pattern/replacement}` (first match) and `${NAME//pattern/replacement}` (all). */
  private processReplace(name: string): string {
    const sc = this.scanner;
    const all = sc.peek() === SLASH;
    if (all) sc.next();
    const pattern = this.nested(SLASH, true, "syntax error: missing '/' in ${}", 'Write ${NAME/pattern/replacement} or ${NAME//pattern/replacement}.');
    const replacement = this.nested(CLOSE_BRACE, true, MISSING_BRACE, MISSING_BRACE_HINT);

    const [value, set] = this.getEnv(name);
    if (!set && this.options.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    const room = this.limit - this.produced;
    try {
      return this.charge(all ? replaceAll(pattern, value, replacement, room) : replaceFirst(pattern, value, replacement, room));
    } catch (error) {
      if (error instanceof OutputLimitError) throw limitError(this.limit);
      throw patternFailure(pattern, error);
    }
  }

  /** A nested word up to `stopChar`; running out of input reports `missing` instead. */
  private nested(stopChar: number, rawEscapes: boolean, missing: string, hint: string): string {
    try {
      return this.processStopOn(stopChar, rawEscapes).result;
    } catch (error) {
      if (error instanceof ExpansionError && error.atEndIsMissingBrace && this.scanner.peek() === EOF) {
        throw new ExpansionError(missing, hint);
      }
      throw error;
    }
  }

  /** A name: letters, digits and `_`; or all leading digits (positional); or one special parameter. */
  private processName(): string {
    const sc = this.scanner;
    let name = '';
    while (sc.peek() !== EOF) {
      const ch = sc.peek();
      if (name === '' && isDigit(ch)) {
        while (sc.peek() !== EOF && isDigit(sc.peek())) name += runeString(sc.next());
        return name;
      }
      if (name === '' && isSpecialParam(ch)) return runeString(sc.next());
      if (!isLetter(ch) && !isDigit(ch) && ch !== UNDERSCORE) break;
      name += runeString(sc.next());
    }
    return name;
  }

  /** `<<` and the whitespace after it stay together (a heredoc marker); a lone `<` is literal. */
  private processPossibleHeredoc(): string {
    const sc = this.scanner;
    sc.next();
    if (sc.peek() !== LESS) return '<';
    sc.next();
    let space = '';
    while (isHeredocSpace(sc.peek())) space += runeString(sc.next());
    return `<<${space}`;
  }

  private getEnv(name: string): [string, boolean] {
    const value = this.env(name);
    if (value !== undefined) {
      if (this.capture) this.matched.add(name);
      return [value, true];
    }
    if (this.capture) this.unmatched.add(name);
    return ['', false];
  }
}

function unsupportedModifier(chs: string): ExpansionError {
  return new ExpansionError(`unsupported modifier (${chs}) in substitution`, SUPPORTED_FORMS);
}

function patternFailure(pattern: string, error: unknown): unknown {
  if (!(error instanceof PatternError)) return error;
  return new ExpansionError(
    `invalid pattern (${pattern}) in substitution: ${error.message}`,
    'In a pattern only \\*, \\? and \\\\ may be escaped (and \\} or \\/ inside ${...}).',
  );
}

/**
 * Dockerfile word expansion with the behaviour of BuildKit's `shell.Lex`: quotes, the escape token,
 * `$VAR`/`${VAR}` and the modifiers listed in SUPPORTED_FORMS. Positional and special parameters
 * (`$1`, `$@`, `$#`…) are names like any other and are normally unset. Variable names are
 * case-sensitive (Unix semantics). Failures are StagecraftError('SHELL_EXPANSION').
 */
export class ShellLex {
  private readonly options: Required<ShellLexOptions>;
  private readonly escapeCodePoint: number;

  constructor(options: ShellLexOptions = {}) {
    this.options = {
      escapeToken: options.escapeToken ?? '\\',
      rawQuotes: options.rawQuotes ?? false,
      rawEscapes: options.rawEscapes ?? false,
      skipUnsetEnv: options.skipUnsetEnv ?? false,
      skipProcessQuotes: options.skipProcessQuotes ?? false,
    };
    this.escapeCodePoint = this.options.escapeToken.codePointAt(0) ?? 0x5c;
  }

  /**
   * One word: quotes removed, escapes resolved, variables expanded. `limit` bounds the characters the
   * expansion may produce (default: DOCKERFILE_LIMITS.instructionExpansionChars); it is checked as the
   * word grows, so `$A$A$A…` fails before it is built.
   */
  processWord(word: string, env: EnvLookup, limit?: number): string {
    return this.process(word, env, false, false, limit).result;
  }

  /** The word split on unquoted whitespace after expansion, like BuildKit's `ProcessWords`. */
  processWords(word: string, env: EnvLookup, limit?: number): string[] {
    return [...this.process(word, env, false, true, limit).words];
  }

  /** Like `processWord`, also splitting and reporting which referenced names were set and which were unset. */
  processWordWithMatches(word: string, env: EnvLookup, limit?: number): WordResult {
    return this.process(word, env, true, true, limit);
  }

  private process(word: string, env: EnvLookup, capture: boolean, split: boolean, limit = DOCKERFILE_LIMITS.instructionExpansionChars): WordResult {
    try {
      const run = new WordRun(this.options, this.escapeCodePoint, word, env, capture, split, limit);
      const { result, words } = run.run();
      return { result, words, matched: run.matched, unmatched: run.unmatched };
    } catch (error) {
      if (error instanceof ExpansionError) {
        throw new StagecraftError('SHELL_EXPANSION', `failed to process ${JSON.stringify(clip(word))}: ${error.message}`, { hint: error.hint });
      }
      throw error;
    }
  }
}

/** An EnvLookup over `KEY=VALUE` strings; the last entry for a key wins; `KEY` alone means empty. */
export function envFromList(list: readonly string[]): EnvLookup {
  const map = new Map<string, string>();
  for (const entry of list) {
    const eq = entry.indexOf('=');
    if (eq < 0) map.set(entry, '');
    else map.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return (name) => map.get(name);
}

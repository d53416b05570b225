/**
 * Docker's path patterns, with the semantics of moby/patternmatcher (used for `.dockerignore`,
 * `COPY --exclude` and BuildKit's include patterns) and of Go's `path.Match` (used for COPY source
 * wildcards):
 *
 * - `*` matches any run of characters except `/`, `?` one character except `/`, `[a-z]` / `[^a-z]` a
 *   character class, `\` escapes the next character;
 * - `**` matches any number of directories (including none); a pattern ending in `**` matches
 *   everything below;
 * - a pattern matches a path if it matches the path itself or any of its parent directories;
 * - patterns are evaluated in order, a `!pattern` re-includes what earlier patterns matched; the last
 *   matching pattern wins.
 *
 * Paths are always slash-separated and relative (no leading `/`).
 */
import { StagecraftError } from '../core/index.js';

/** A malformed pattern (Go's `filepath.ErrBadPattern`). */
export class PatternSyntaxError extends Error {
  constructor(readonly pattern: string) {
    super(`syntax error in pattern "${pattern}"`);
    this.name = 'PatternSyntaxError';
  }
}

/** Go's `path.Clean`: the shortest equivalent path (`""` → `"."`, no trailing slash, `..` folded). */
export function cleanPath(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** Whether `name` holds an unescaped `*`, `?` or `[` (what makes a COPY source a wildcard). */
export function hasWildcards(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

// ---- Go's path.Match, on code points ----

interface Chunk {
  readonly star: boolean;
  readonly chunk: readonly string[];
  readonly rest: readonly string[];
}

/** The next run of non-star pattern characters, and whether stars preceded it. */
function scanChunk(pattern: readonly string[]): Chunk {
  let start = 0;
  while (start < pattern.length && pattern[start] === '*') start++;
  let inRange = false;
  let i = start;
  for (; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '\\') {
      if (i + 1 < pattern.length) i++;
    } else if (ch === '[') {
      inRange = true;
    } else if (ch === ']') {
      inRange = false;
    } else if (ch === '*' && !inRange) {
      break;
    }
  }
  return { star: start > 0, chunk: pattern.slice(start, i), rest: pattern.slice(i) };
}

/** One (possibly escaped) class character at `index`; throws on a malformed class. */
function classChar(chunk: readonly string[], index: number, pattern: string): { code: number; next: number } {
  let i = index;
  const first = chunk[i];
  if (first === undefined || first === '-' || first === ']') throw new PatternSyntaxError(pattern);
  if (first === '\\') i++;
  const ch = chunk[i];
  if (ch === undefined) throw new PatternSyntaxError(pattern);
  i++;
  if (i >= chunk.length) throw new PatternSyntaxError(pattern);
  return { code: ch.codePointAt(0) ?? 0, next: i };
}

/**
 * Whether `chunk` matches the start of `name`; returns the rest of `name` or null. The whole chunk is
 * always scanned, so a malformed chunk throws even when the match already failed.
 */
function matchChunk(chunk: readonly string[], name: readonly string[], pattern: string): readonly string[] | null {
  let failed = false;
  let ci = 0;
  let si = 0;
  while (ci < chunk.length) {
    if (!failed && si >= name.length) failed = true;
    const ch = chunk[ci] as string;
    if (ch === '[') {
      let code = -1;
      if (!failed) code = (name[si++] as string).codePointAt(0) ?? -1;
      ci++;
      let negated = false;
      if (chunk[ci] === '^') {
        negated = true;
        ci++;
      }
      let match = false;
      let ranges = 0;
      for (;;) {
        if (chunk[ci] === ']' && ranges > 0) {
          ci++;
          break;
        }
        const lo = classChar(chunk, ci, pattern);
        ci = lo.next;
        let hi = lo.code;
        if (chunk[ci] === '-') {
          const upper = classChar(chunk, ci + 1, pattern);
          ci = upper.next;
          hi = upper.code;
        }
        if (lo.code <= code && code <= hi) match = true;
        ranges++;
      }
      if (match === negated) failed = true;
    } else if (ch === '?') {
      if (!failed) {
        if (name[si] === '/') failed = true;
        si++;
      }
      ci++;
    } else {
      let literal = ch;
      if (ch === '\\') {
        ci++;
        const escaped = chunk[ci];
        if (escaped === undefined) throw new PatternSyntaxError(pattern);
        literal = escaped;
      }
      if (!failed) {
        if (literal !== name[si]) failed = true;
        si++;
      }
      ci++;
    }
  }
  return failed ? null : name.slice(si);
}

/**
 * Go's `path.Match`: whether `name` matches the shell pattern `pattern` as a whole (`*` and `?` never
 * match `/`). Throws `PatternSyntaxError` for a malformed pattern, also when the name does not match.
 */
export function pathMatch(pattern: string, name: string): boolean {
  let rest: readonly string[] = Array.from(pattern);
  let subject: readonly string[] = Array.from(name);
  outer: while (rest.length > 0) {
    const { star, chunk, rest: after } = scanChunk(rest);
    rest = after;
    if (star && chunk.length === 0) return !subject.includes('/');
    const direct = matchChunk(chunk, subject, pattern);
    if (direct !== null && (direct.length === 0 || rest.length > 0)) {
      subject = direct;
      continue;
    }
    if (star) {
      for (let i = 0; i < subject.length && subject[i] !== '/'; i++) {
        const skipped = matchChunk(chunk, subject.slice(i + 1), pattern);
        if (skipped !== null) {
          if (rest.length === 0 && skipped.length > 0) continue;
          subject = skipped;
          continue outer;
        }
      }
    }
    // No match: still report a malformed remainder of the pattern.
    while (rest.length > 0) {
      const next = scanChunk(rest);
      rest = next.rest;
      matchChunk(next.chunk, [], pattern);
    }
    return false;
  }
  return subject.length === 0;
}

/** Throws `PatternSyntaxError` unless `pattern` is a well-formed `path.Match` pattern. */
export function validatePathPattern(pattern: string): void {
  pathMatch(pattern, '.');
}

// ---- moby/patternmatcher ----

type MatchKind = 'exact' | 'prefix' | 'suffix' | 'regexp';

/** Characters with a meaning in a JavaScript `u`-mode regular expression. */
const REGEXP_SYNTAX = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);

function literal(ch: string, inClass: boolean): string {
  if (REGEXP_SYNTAX.has(ch) || (inClass && ch === '-')) return `\\${ch}`;
  return ch;
}

/**
 * One element of a compiled pattern, matched on code points: a literal, a character class (a RegExp
 * over one character, which cannot backtrack), `[^/]` (`?`), `[^/]*` (`*`), `.*` (two stars at the
 * end), `(.*\/)?` (two stars before more), or `^` (an anchor: only at the start of the name).
 */
type Token =
  | { readonly t: 'lit'; readonly ch: string }
  | { readonly t: 'class'; readonly re: RegExp }
  | { readonly t: 'one' | 'star' | 'any' | 'dirs' | 'begin' };

/** One compiled pattern: an exact name, a prefix (`dir/` then two stars), a suffix (two stars then `/name`) or a token list. */
export class Pattern {
  readonly exclusion: boolean;
  /** The cleaned pattern without its `!`. */
  readonly text: string;
  private readonly kind: MatchKind;
  private readonly tokens: readonly Token[];

  constructor(text: string, exclusion: boolean) {
    this.text = text;
    this.exclusion = exclusion;
    const compiled = Pattern.compile(text);
    this.kind = compiled.kind;
    this.tokens = compiled.tokens;
  }

  /**
   * The translation of patternmatcher (`*` → `[^/]*`, `?` → `[^/]`, two stars → `(.*\/)?`, or `.*` at
   * the end), into tokens that `matchTokens` runs in O(name × pattern) time: patternmatcher's Go regexp
   * is linear, and a backtracking RegExp on `*a*a*a*a*b` or a run of two-star segments would let a
   * `.dockerignore` or `COPY --exclude` hang the build.
   */
  private static compile(text: string): { kind: MatchKind; tokens: Token[] } {
    const chars = Array.from(text);
    const tokens: Token[] = [];
    let kind: MatchKind = 'exact';
    let classSource: string | undefined;
    for (let i = 0, step = 0; i < chars.length; i++, step++) {
      const ch = chars[i] as string;
      if (classSource !== undefined) {
        // Inside a class every character is literal except `]` (end), `-` (range), `^` (negation) and `\`.
        if (ch === ']') {
          try {
            tokens.push({ t: 'class', re: new RegExp(`^[${classSource}]$`, 'u') });
          } catch {
            throw new PatternSyntaxError(text);
          }
          classSource = undefined;
        } else if (ch === '\\' && i + 1 < chars.length) {
          classSource += literal(chars[++i] as string, true);
        } else if (ch === '-') {
          classSource += '-';
        } else if (ch === '^' && chars[i - 1] === '[') {
          classSource += '^';
        } else {
          classSource += literal(ch, true);
        }
        continue;
      }
      if (ch === '*') {
        if (chars[i + 1] === '*') {
          i++;
          if (chars[i + 1] === '/') i++;
          if (i + 1 >= chars.length) {
            if (kind === 'exact') {
              kind = 'prefix';
            } else {
              tokens.push({ t: 'any' });
              kind = 'regexp';
            }
          } else {
            tokens.push({ t: 'dirs' });
            kind = 'regexp';
          }
          if (step === 0) kind = 'suffix';
        } else {
          tokens.push({ t: 'star' });
          kind = 'regexp';
        }
      } else if (ch === '?') {
        tokens.push({ t: 'one' });
        kind = 'regexp';
      } else if (ch === '\\') {
        if (i + 1 < chars.length) {
          tokens.push({ t: 'lit', ch: chars[++i] as string });
          kind = 'regexp';
        } else {
          tokens.push({ t: 'lit', ch: '\\' });
        }
      } else if (ch === '[') {
        classSource = '';
        kind = 'regexp';
      } else if (ch === ']') {
        tokens.push({ t: 'lit', ch: ']' });
        kind = 'regexp';
      } else if (ch === '^') {
        // A bare `^` is Go's begin-of-text anchor (patternmatcher does not escape it).
        tokens.push({ t: 'begin' });
      } else {
        tokens.push({ t: 'lit', ch });
      }
    }
    // An unclosed class: the regular expression would not compile.
    if (classSource !== undefined) throw new PatternSyntaxError(text);
    return { kind, tokens };
  }

  /** Whether the pattern matches `path` itself (parents are the matcher's business). */
  match(path: string): boolean {
    switch (this.kind) {
      case 'exact':
        return path === this.text;
      case 'prefix':
        return path.startsWith(this.text.slice(0, -2));
      case 'suffix': {
        const suffix = this.text.slice(2);
        if (path.endsWith(suffix)) return true;
        // `**/foo` matches `foo`
        return suffix.startsWith('/') && path === suffix.slice(1);
      }
      case 'regexp':
        return matchTokens(this.tokens, Array.from(path));
    }
  }
}

/**
 * Whether `tokens` match all of `name` (a Thompson NFA simulation: the set of token positions reachable
 * after each character). Position `tokens.length` is the match; for a `dirs` token at i, `-1 - i` is
 * "inside `.*` of `(.*\/)?`", left by a `/`. `.` is Go's (everything but a newline).
 */
function matchTokens(tokens: readonly Token[], name: readonly string[]): boolean {
  const end = tokens.length;
  let current = new Set<number>();
  const add = (set: Set<number>, state: number, at: number): void => {
    if (set.has(state)) return;
    set.add(state);
    if (state < 0 || state >= end) return;
    const token = tokens[state] as Token;
    switch (token.t) {
      case 'star':
      case 'any':
        add(set, state + 1, at);
        return;
      case 'dirs':
        add(set, state + 1, at);
        add(set, -1 - state, at);
        return;
      case 'begin':
        if (at === 0) add(set, state + 1, at);
        return;
      case 'lit':
      case 'class':
      case 'one':
        return;
    }
  };
  add(current, 0, 0);
  for (let at = 0; at < name.length; at++) {
    const ch = name[at] as string;
    const next = new Set<number>();
    for (const state of current) {
      if (state < 0) {
        // Inside `(.*\/)?`: any character but a newline stays; a `/` may also end the group.
        if (ch !== '\n') add(next, state, at + 1);
        if (ch === '/') add(next, -1 - state + 1, at + 1);
        continue;
      }
      if (state >= end) continue;
      const token = tokens[state] as Token;
      switch (token.t) {
        case 'lit':
          if (token.ch === ch) add(next, state + 1, at + 1);
          break;
        case 'class':
          if (token.re.test(ch)) add(next, state + 1, at + 1);
          break;
        case 'one':
          if (ch !== '/') add(next, state + 1, at + 1);
          break;
        case 'star':
          if (ch !== '/') add(next, state, at + 1);
          break;
        case 'any':
          if (ch !== '\n') add(next, state, at + 1);
          break;
        case 'dirs':
        case 'begin':
          break;
      }
    }
    if (next.size === 0) return false;
    current = next;
  }
  return current.has(end);
}

/** Per-pattern results for a directory, handed to its children (see `matchesUsingParent`). */
export interface MatchInfo {
  readonly parentMatched: readonly boolean[];
}

export interface PatternMatcherOptions {
  /** Where the patterns come from, for error messages (e.g. `.dockerignore`, `--exclude`). */
  readonly source?: string | undefined;
}

/** An ordered list of patterns with `!` exceptions, like moby/patternmatcher's `PatternMatcher`. */
export class PatternMatcher {
  readonly patterns: readonly Pattern[];
  /** Whether any pattern is a `!` exception (then an excluded directory's children must still be visited). */
  readonly hasExclusions: boolean;

  private constructor(patterns: readonly Pattern[]) {
    this.patterns = patterns;
    this.hasExclusions = patterns.some((p) => p.exclusion);
  }

  /**
   * Parses `patterns` (whitespace-trimmed, empty ones dropped, each cleaned with `path.Clean`, a leading
   * `!` marks an exception). Throws StagecraftError(INVALID_PATTERN) for `!` alone or a malformed one.
   */
  static create(patterns: readonly string[], options: PatternMatcherOptions = {}): PatternMatcher {
    const where = options.source !== undefined ? ` in ${options.source}` : '';
    const compiled: Pattern[] = [];
    for (const raw of patterns) {
      let text = raw.trim();
      if (text === '') continue;
      text = cleanPath(text);
      let exclusion = false;
      if (text.startsWith('!')) {
        if (text.length === 1) {
          throw new StagecraftError('INVALID_PATTERN', `illegal exclusion pattern "!"${where}`, {
            hint: 'a "!" must be followed by the pattern it re-includes, e.g. "!README.md"',
          });
        }
        exclusion = true;
        text = text.slice(1);
      }
      try {
        validatePathPattern(text);
        compiled.push(new Pattern(text, exclusion));
      } catch (error) {
        if (!(error instanceof PatternSyntaxError)) throw error;
        throw new StagecraftError('INVALID_PATTERN', `invalid pattern "${raw.trim()}"${where}: syntax error`, {
          hint: 'check "[...]" classes are closed and not empty, ranges are written "a-z", and "\\" is followed by a character',
          cause: error,
        });
      }
    }
    return new PatternMatcher(compiled);
  }

  /**
   * Whether `file` (or one of its parent directories) is matched by the patterns and not re-included by
   * a later exception (patternmatcher's `MatchesOrParentMatches`).
   */
  matches(file: string): boolean {
    let matched = false;
    const parentPath = dirname(file);
    const parentDirs = parentPath.split('/');
    for (const pattern of this.patterns) {
      // An inclusion needs no check once matched, an exception none until something matched.
      if (pattern.exclusion !== matched) continue;
      let match = pattern.match(file);
      if (!match && parentPath !== '.') {
        for (let i = 0; i < parentDirs.length && !match; i++) match = pattern.match(parentDirs.slice(0, i + 1).join('/'));
      }
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  }

  /**
   * `matches` for a tree walk: `parent` holds the per-pattern results of `file`'s directory, so parents
   * are not matched again (patternmatcher's `MatchesUsingParentResults`). Pass `undefined` for a path
   * whose parent was not visited.
   */
  matchesUsingParent(file: string, parent: MatchInfo | undefined): { matched: boolean; info: MatchInfo } {
    const parentMatched = parent?.parentMatched ?? [];
    if (parentMatched.length !== 0 && parentMatched.length !== this.patterns.length) {
      throw new Error('matchesUsingParent: MatchInfo from another matcher');
    }
    let matched = false;
    const info: boolean[] = new Array<boolean>(this.patterns.length).fill(false);
    this.patterns.forEach((pattern, i) => {
      let match = parentMatched[i] ?? false;
      if (!match) {
        if (pattern.exclusion !== matched) return;
        match = pattern.match(file);
        if (!match && parentMatched.length === 0) {
          const parentPath = dirname(file);
          if (parentPath !== '.') {
            const parentDirs = parentPath.split('/');
            for (let d = 0; d < parentDirs.length && !match; d++) match = pattern.match(parentDirs.slice(0, d + 1).join('/'));
          }
        }
      }
      info[i] = match;
      if (match) matched = !pattern.exclusion;
    });
    return { matched, info: { parentMatched: info } };
  }
}

/** Go's `path.Dir` for relative paths: `"a/b"` → `"a"`, `"a"` → `"."`. */
function dirname(path: string): string {
  const slash = path.lastIndexOf('/');
  if (slash === -1) return '.';
  return cleanPath(path.slice(0, slash + 1));
}

/**
 * moby's `MatchesOrParentMatches(file, patterns)`: cleans `file` and never matches `.` (the whole
 * context cannot be excluded).
 */
export function matchesPatterns(file: string, patterns: readonly string[]): boolean {
  const clean = cleanPath(file);
  if (clean === '.') return false;
  return PatternMatcher.create(patterns).matches(clean);
}

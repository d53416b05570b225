/**
 * Property tests (issue 13: the `.dockerignore` matcher never throws anything but a typed error, and
 * never hangs): arbitrary `.dockerignore` files and patterns fail only with INVALID_PATTERN; the
 * linear-time matcher agrees with patternmatcher's regular-expression translation (run here as a
 * backtracking RegExp on inputs small enough for it); patterns that make a backtracking engine
 * exponential (`*a*a*a…b`, runs of two-star segments) answer in milliseconds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { StagecraftError } from '../../src/core/index.js';
import { parseDockerignore } from '../../src/util/dockerignore.js';
import { PatternMatcher, PatternSyntaxError, cleanPath, pathMatch } from '../../src/util/patterns.js';

const PATTERN_PARTS = ['a', 'b', '/', '*', '**', '**/', '?', '[a-b]', '[^a]', '[', ']', '\\*', '\\', '.', '..', '^', '$', '+', '(', '|', '\n', '\r', 'é', '😀', '!'];
const PATH_PARTS = ['a', 'b', '/', '.', '*', '\n', '\r', 'é', '😀', '[', '^', '$'];
const pattern = fc.array(fc.constantFrom(...PATTERN_PARTS), { maxLength: 8 }).map((p) => p.join(''));
const path = fc.array(fc.constantFrom(...PATH_PARTS), { minLength: 1, maxLength: 10 }).map((p) => p.join(''));

/**
 * patternmatcher's translation to a regular expression (as stagecraft ran it before), with Go's `.`
 * (everything but a newline). Backtracking, so only for small inputs.
 */
function referenceRegExp(text: string): RegExp | 'exact' | 'prefix' | 'suffix' {
  const syntax = new Set(['^', '$', '\\', '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '/']);
  const lit = (ch: string, inClass: boolean): string => (syntax.has(ch) || (inClass && ch === '-') ? `\\${ch}` : ch);
  const chars = Array.from(text);
  let source = '^';
  let kind: 'exact' | 'prefix' | 'suffix' | 'regexp' = 'exact';
  let inClass = false;
  for (let i = 0, step = 0; i < chars.length; i++, step++) {
    const ch = chars[i] as string;
    if (inClass) {
      if (ch === ']') {
        inClass = false;
        source += ']';
      } else if (ch === '\\' && i + 1 < chars.length) source += lit(chars[++i] as string, true);
      else if (ch === '-') source += '-';
      else if (ch === '^' && chars[i - 1] === '[') source += '^';
      else source += lit(ch, true);
      continue;
    }
    if (ch === '*') {
      if (chars[i + 1] === '*') {
        i++;
        if (chars[i + 1] === '/') i++;
        if (i + 1 >= chars.length) {
          if (kind === 'exact') kind = 'prefix';
          else {
            source += '[^\\n]*';
            kind = 'regexp';
          }
        } else {
          source += '([^\\n]*/)?';
          kind = 'regexp';
        }
        if (step === 0) kind = 'suffix';
      } else {
        source += '[^/]*';
        kind = 'regexp';
      }
    } else if (ch === '?') {
      source += '[^/]';
      kind = 'regexp';
    } else if (['.', '+', '(', ')', '|', '{', '}', '$'].includes(ch)) source += `\\${ch}`;
    else if (ch === '\\') {
      if (i + 1 < chars.length) {
        source += lit(chars[++i] as string, false);
        kind = 'regexp';
      } else source += '\\\\';
    } else if (ch === '[') {
      inClass = true;
      source += '[';
      kind = 'regexp';
    } else if (ch === ']') {
      source += '\\]';
      kind = 'regexp';
    } else source += ch;
  }
  if (kind !== 'regexp') return kind;
  return new RegExp(`${source}$`, 'u');
}

/** Whether the cleaned pattern `text` matches `file` or a parent of it, by the reference translation. */
function referenceMatches(text: string, file: string): boolean {
  const compiled = referenceRegExp(text);
  const one = (p: string): boolean => {
    if (compiled === 'exact') return p === text;
    if (compiled === 'prefix') return p.startsWith(text.slice(0, -2));
    if (compiled === 'suffix') {
      const suffix = text.slice(2);
      return p.endsWith(suffix) || (suffix.startsWith('/') && p === suffix.slice(1));
    }
    return compiled.test(p);
  };
  if (one(file)) return true;
  const slash = file.lastIndexOf('/');
  if (slash === -1) return false;
  const parent = cleanPath(file.slice(0, slash + 1));
  if (parent === '.') return false;
  const dirs = parent.split('/');
  return dirs.some((_, i) => one(dirs.slice(0, i + 1).join('/')));
}

describe('.dockerignore matcher robustness (fast-check)', () => {
  it('random patterns: INVALID_PATTERN or the same answer as patternmatcher\'s regular expression', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(pattern, fc.array(path, { minLength: 1, maxLength: 4 }), (raw, files) => {
        let matcher: PatternMatcher;
        try {
          matcher = PatternMatcher.create([raw]);
        } catch (error) {
          assert.ok(error instanceof StagecraftError && error.code === 'INVALID_PATTERN', String(error));
          return;
        }
        const compiled = matcher.patterns[0];
        if (compiled === undefined) return;
        for (const file of files) {
          const clean = cleanPath(file);
          assert.equal(matcher.matches(clean), compiled.exclusion ? false : referenceMatches(compiled.text, clean), `${JSON.stringify(compiled.text)} ~ ${JSON.stringify(clean)}`);
        }
      }),
      { numRuns: 5000, seed: 13_001 },
    );
  });

  it('arbitrary .dockerignore files parse, and compile only to matchers or INVALID_PATTERN', { timeout: 60_000 }, () => {
    const file = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.array(fc.oneof(pattern, fc.constantFrom('#c', '!', ' ! a', '\r', '', '/')), { maxLength: 10 }).map((lines) => lines.join('\n')),
      fc.uint8Array({ maxLength: 200 }),
    );
    fc.assert(
      fc.property(file, path, (content, probe) => {
        const patterns = parseDockerignore(content);
        try {
          PatternMatcher.create(patterns, { source: '.dockerignore' }).matchesUsingParent(cleanPath(probe), undefined);
        } catch (error) {
          assert.ok(error instanceof StagecraftError && error.code === 'INVALID_PATTERN', String(error));
        }
      }),
      { numRuns: 4000, seed: 13_002 },
    );
  });

  it('path.Match on arbitrary input returns or throws PatternSyntaxError', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.oneof(pattern, fc.string({ unit: 'binary', maxLength: 20 })), fc.oneof(path, fc.string({ unit: 'binary', maxLength: 20 })), (p, name) => {
        try {
          pathMatch(p, name);
        } catch (error) {
          assert.ok(error instanceof PatternSyntaxError, String(error));
        }
      }),
      { numRuns: 5000, seed: 13_003 },
    );
  });

  it('patterns that make a backtracking engine exponential answer in milliseconds', { timeout: 60_000 }, () => {
    const deep = Array.from({ length: 200 }, () => 'a').join('/');
    const long = 'a'.repeat(5000);
    const cases: [string, string][] = [
      [`${'**/'.repeat(40)}z`, deep],
      [`${'*a'.repeat(40)}b`, long],
      [`**/${'*a'.repeat(40)}b`, `${deep}/${long}`],
      [`${'a**'.repeat(30)}b`, long],
      [`${'?*'.repeat(40)}/z`, long],
      [`[a-z]*${'[a-z]*'.repeat(40)}!`, long],
    ];
    for (const [p, file] of cases) {
      const started = Date.now();
      assert.equal(PatternMatcher.create([p]).matches(file), false, p);
      assert.equal(pathMatch(p.replaceAll('**', '*'), file), false);
      // A backtracking matcher takes hours here; the bound is loose so a loaded CI machine cannot fail it.
      assert.ok(Date.now() - started < 20_000, `${p.slice(0, 30)}… took ${Date.now() - started} ms`);
    }
    assert.equal(PatternMatcher.create([`${'**/'.repeat(40)}a`]).matches(deep), true);
    assert.equal(PatternMatcher.create([`${'*a'.repeat(40)}`]).matches(long), true);
  });
});

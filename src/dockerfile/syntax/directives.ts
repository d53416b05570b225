/**
 * Parser directives (`# syntax=…`, `# escape=…`, `# check=…`) with BuildKit's rules: only in the
 * leading comment lines of the file (the first line that is anything else, even a blank line or another
 * comment, ends them), names are case-insensitive, unknown names end the header, a repeated name is an
 * error.
 */
import { trimLeftGo } from './go-text.js';

export const DIRECTIVE_NAMES: ReadonlySet<string> = new Set(['syntax', 'escape', 'check']);

export class DirectiveError extends Error {
  constructor(message: string, readonly hint: string) {
    super(message);
  }
}

/** Go regexp `\s`: `[\t\n\f\r ]`. */
function isReSpace(code: number): boolean {
  return code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0c || code === 0x0d;
}

function isAsciiLetter(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
}

function isAsciiAlnum(code: number): boolean {
  return isAsciiLetter(code) || (code >= 0x30 && code <= 0x39);
}

/** `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` without a regex engine. */
function matchDirective(text: string): { name: string; value: string } | undefined {
  if (!isAsciiLetter(text.charCodeAt(0))) return undefined;
  let i = 1;
  while (i < text.length && isAsciiAlnum(text.charCodeAt(i))) i++;
  const name = text.slice(0, i);
  while (i < text.length && isReSpace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 0x3d) return undefined;
  i++;
  let j = i;
  while (j < text.length && isReSpace(text.charCodeAt(j))) j++;
  if (text.includes('\n', i)) return undefined;
  if (j === text.length) {
    // `(.+?)` needs one character: after `=` with only blanks, it takes the last blank.
    return j > i ? { name, value: text.slice(j - 1) } : undefined;
  }
  let end = text.length;
  while (end > j && isReSpace(text.charCodeAt(end - 1))) end--;
  return { name, value: text.slice(j, end) };
}

export class DirectiveParser {
  private done = false;
  private readonly seen = new Set<string>();

  /** True once a line that is not a directive has been seen. */
  get finished(): boolean {
    return this.done;
  }

  /**
   * Looks at one line (newline removed). Returns the directive it holds, if any; throws DirectiveError on
   * a repeated directive.
   */
  parseLine(line: string): { name: string; value: string } | undefined {
    if (this.done) return undefined;
    if (!line.startsWith('#')) {
      this.done = true;
      return undefined;
    }
    const match = matchDirective(trimLeftGo(line.slice(1)));
    if (match === undefined) {
      this.done = true;
      return undefined;
    }
    const name = match.name.toLowerCase();
    if (!DIRECTIVE_NAMES.has(name)) {
      this.done = true;
      return undefined;
    }
    if (this.seen.has(name)) {
      throw new DirectiveError(`only one ${name} parser directive can be used`, `remove the repeated "# ${name}=" line`);
    }
    this.seen.add(name);
    return { name, value: match.value };
  }
}

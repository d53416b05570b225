/**
 * Dockerfile text → DockerfileAst, accepting what BuildKit's parser (moby/buildkit
 * frontend/dockerfile/parser) accepts and grouping arguments the same way, so that `dumpAst` prints
 * BuildKit's dump. Linear in the input size: lines are scanned once, no backtracking regexes, output is
 * built from slices.
 *
 * Deliberate differences from BuildKit: a file without instructions parses to an empty AST (BuildKit's
 * parser errors; callers decide), error locations use the real line of a parser directive (BuildKit
 * reports the line before), and the file, its instructions and heredocs are bounded by
 * DOCKERFILE_LIMITS (BuildKit bounds only the line length, which we share).
 */
import { StagecraftError, type SourceRange } from '../../core/index.js';
import { DOCKERFILE_LIMITS, formatSize } from '../limits.js';
import type { Directive, DockerfileAst, Heredoc, InstructionNode, ParseWarning } from './ast.js';
import { DirectiveError, DirectiveParser } from './directives.js';
import { goToLower, skipGoSpace, trimLeftGo, trimSpaceGo } from './go-text.js';
import { chompHeredocContent, heredocsFromLine } from './heredoc.js';
import { LexError } from './heredoc-words.js';
import { LineParseError, parseArguments } from './line-parsers.js';
import { splitCommand } from './split-command.js';

export interface ParseOptions {
  /** The file name used in error locations (default `Dockerfile`). */
  readonly file?: string | undefined;
}

type EscapeToken = '\\' | '`';

/** UTF-8 size of a string; cheap for the common short line. */
function utf8Size(text: string, atMost: number): number {
  return text.length * 3 <= atMost ? text.length : Buffer.byteLength(text);
}

/**
 * Lines of the input, each with its line ending (BuildKit's `scanLines`). As BuildKit's scanner, it
 * refuses a line longer than DOCKERFILE_LIMITS.lineBytes (newline excluded), calling `tooLong` with the
 * line's number.
 */
class LineReader {
  private pos = 0;
  private count = 0;
  constructor(private readonly text: string, private readonly tooLong: (line: number, raw: string) => never) {}

  next(): string | undefined {
    if (this.pos >= this.text.length) return undefined;
    const newline = this.text.indexOf('\n', this.pos);
    const end = newline === -1 ? this.text.length : newline + 1;
    this.count++;
    const limit = DOCKERFILE_LIMITS.lineBytes;
    const contentEnd = newline === -1 ? end : newline;
    if (utf8Size(this.text.slice(this.pos, contentEnd), limit) > limit) this.tooLong(this.count, this.text.slice(this.pos, this.pos + 80));
    const line = this.text.slice(this.pos, end);
    this.pos = end;
    return line;
  }
}

/** Go `bytes.TrimRight(line, "\r\n")`. */
function trimNewline(line: string): string {
  let end = line.length;
  while (end > 0) {
    const c = line.charCodeAt(end - 1);
    if (c !== 0x0a && c !== 0x0d) break;
    end--;
  }
  return end === line.length ? line : line.slice(0, end);
}

function isComment(line: string): boolean {
  return line.charCodeAt(skipGoSpace(line)) === 0x23;
}

function isEmptyContinuationLine(line: string): boolean {
  return skipGoSpace(trimNewline(line)) === trimNewline(line).length;
}

function trimLeadingTabs(line: string): string {
  let i = 0;
  while (i < line.length && line.charCodeAt(i) === 0x09) i++;
  return i === 0 ? line : line.slice(i);
}

/**
 * A comment's text: Go's `strings.TrimSpace(string(line[1:]))` drops the first byte of the raw line
 * (the `#`, or the first byte of leading white space).
 */
function commentText(raw: string): string {
  const first = raw.codePointAt(0) ?? 0;
  if (first < 0x80) return trimSpaceGo(raw.slice(1));
  // The first byte of a multi-byte space: the rest of its bytes are invalid UTF-8, not space.
  const extra = first < 0x800 ? 1 : first < 0x10000 ? 2 : 3;
  return trimSpaceGo('\ufffd'.repeat(extra) + raw.slice(first > 0xffff ? 2 : 1));
}

/**
 * A line ending in the escape token (plus blanks) continues on the next line, unless the token is itself
 * escaped (`\\`). Returns the line without the token and whether the instruction ends here.
 */
function trimContinuation(line: string, escape: EscapeToken): { text: string; endOfLine: boolean } {
  let k = line.length;
  while (k > 0) {
    const c = line.charCodeAt(k - 1);
    if (c !== 0x20 && c !== 0x09) break;
    k--;
  }
  if (k === 0 || line[k - 1] !== escape) return { text: line, endOfLine: true };
  if (k === 1) return { text: '', endOfLine: false };
  if (line[k - 2] === escape) return { text: line, endOfLine: true };
  return { text: line.slice(0, k - 1), endOfLine: false };
}

function leadingBlankWidth(line: string): number {
  return skipGoSpace(trimNewline(line));
}

function rangeOf(startLine: number, startColumn: number, endLine: number, endRaw: string): SourceRange {
  return {
    start: { line: startLine, column: startColumn },
    end: { line: endLine, column: trimNewline(endRaw).length + 1 },
  };
}

const HEREDOC_KEYWORDS: ReadonlySet<string> = new Set(['add', 'copy', 'run']);

/** BuildKit's `canContainHeredoc`: RUN/COPY/ADD in shell form, also as the trigger of ONBUILD. */
function canContainHeredoc(node: InstructionNode): boolean {
  const target = node.keyword === 'onbuild' && node.child !== undefined ? node.child : node;
  return HEREDOC_KEYWORDS.has(target.keyword) && !target.json;
}

interface Layer {
  readonly flags: string[];
  readonly original: string;
}

/**
 * BuildKit's `newNodeFromLine`, with ONBUILD's nesting (`parseSubCommand`) unrolled into a loop so that
 * `ONBUILD ONBUILD …` repeated any number of times needs no recursion.
 */
function nodeFromLine(line: string, escape: EscapeToken, comments: readonly string[], range: SourceRange): InstructionNode {
  const layers: Layer[] = [];
  let current = line;
  let node: InstructionNode;
  for (;;) {
    const { cmd, flags, args } = splitCommand(current, escape);
    const keyword = goToLower(cmd);
    if (keyword === 'onbuild' && args !== '') {
      layers.push({ flags, original: current });
      current = args;
      continue;
    }
    const parsed = keyword === 'onbuild' ? { args: [], json: false } : parseArguments(keyword, args, escape);
    node = { keyword, flags, args: parsed.args, json: parsed.json, heredocs: [], original: current, range, comments: [] };
    break;
  }
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (layer === undefined) continue;
    node = { keyword: 'onbuild', flags: layer.flags, args: [], json: false, child: node, heredocs: [], original: layer.original, range, comments: [] };
  }
  return { ...node, comments: [...comments] };
}

/** Parses Dockerfile text. Throws StagecraftError('DOCKERFILE_SYNTAX') where BuildKit's parser fails. */
export function parseDockerfile(text: string, options: ParseOptions = {}): DockerfileAst {
  const file = options.file ?? 'Dockerfile';
  const fail = (message: string, range: SourceRange, hint: string | undefined, cause?: unknown): never => {
    throw new StagecraftError('DOCKERFILE_SYNTAX', `${file}:${range.start.line}: ${message}`, {
      hint,
      cause,
      location: { file, range },
    });
  };

  const limits = DOCKERFILE_LIMITS;
  const size = utf8Size(text, limits.fileBytes);
  if (size > limits.fileBytes) {
    fail(`the Dockerfile is ${size} bytes, more than the limit of ${formatSize(limits.fileBytes)}`, rangeOf(1, 1, 1, ''),
      'A Dockerfile this large is not hand-written: generate the content into files of the build context and COPY them.');
  }
  const reader = new LineReader(text, (line, start) =>
    fail(`dockerfile line greater than max allowed size of ${limits.lineBytes}`, rangeOf(line, 1, line, start),
      `Split the line with the escape character (\\ at the end of a line continues it), or move long content into a file of the build context.`));
  const directiveParser = new DirectiveParser();
  const directives: Directive[] = [];
  const instructions: InstructionNode[] = [];
  const warnings: ParseWarning[] = [];
  let escape: EscapeToken = '\\';
  let comments: string[] = [];
  let lineNumber = 0;

  /** BuildKit's `processLine`: newline removed, optionally left-trimmed, directive check, comment → "". */
  const processLine = (raw: string, stripLeft: boolean, lineRange: SourceRange): string => {
    let line = trimNewline(raw);
    if (stripLeft) line = trimLeftGo(line);
    let directive: { name: string; value: string } | undefined;
    try {
      directive = directiveParser.parseLine(line);
    } catch (error) {
      if (error instanceof DirectiveError) fail(error.message, lineRange, error.hint);
      throw error;
    }
    if (directive !== undefined) {
      if (directive.name === 'escape') {
        if (directive.value !== '`' && directive.value !== '\\') {
          fail(`invalid escape token '${directive.value}' does not match \` or \\`, lineRange, 'write "# escape=\\" or "# escape=`"');
        }
        escape = directive.value === '`' ? '`' : '\\';
      }
      directives.push({ name: directive.name, value: directive.value, range: lineRange });
      // A directive line is a comment line that was just recorded as one: take it back.
      comments.pop();
    }
    return isComment(line) ? '' : line;
  };

  for (;;) {
    let raw = reader.next();
    if (raw === undefined) break;
    if (lineNumber === 0 && raw.charCodeAt(0) === 0xfeff) raw = raw.slice(1);
    if (isComment(raw)) {
      const comment = commentText(raw);
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    lineNumber++;
    const startLine = lineNumber;
    const startColumn = leadingBlankWidth(raw) + 1;
    let lastRaw = raw;
    const processed = processLine(raw, true, rangeOf(startLine, startColumn, startLine, raw));

    let { text: part, endOfLine } = trimContinuation(processed, escape);
    if (endOfLine && part.length === 0) continue;
    const parts = [part];
    let emptyContinuation = false;
    while (!endOfLine) {
      const next = reader.next();
      if (next === undefined) break;
      lineNumber++;
      lastRaw = next;
      const line = processLine(next, false, rangeOf(lineNumber, 1, lineNumber, next));
      if (isComment(next)) continue;
      if (isEmptyContinuationLine(line)) {
        emptyContinuation = true;
        continue;
      }
      ({ text: part, endOfLine } = trimContinuation(line, escape));
      parts.push(part);
    }
    const line = parts.join('');
    const range = (): SourceRange => rangeOf(startLine, startColumn, lineNumber, lastRaw);

    if (emptyContinuation) {
      warnings.push({
        rule: 'NoEmptyContinuation',
        message: `Empty continuation line found in: ${line}`,
        range: rangeOf(lineNumber, 1, lineNumber, lastRaw),
      });
    }

    let node: InstructionNode;
    try {
      node = nodeFromLine(line, escape, comments, range());
    } catch (error) {
      if (error instanceof LineParseError) return fail(error.message, range(), error.hint);
      throw error;
    }

    if (canContainHeredoc(node) && line.includes('<<')) {
      let markers;
      try {
        markers = heredocsFromLine(line);
      } catch (error) {
        if (error instanceof LexError) return fail(error.message, range(), 'check the quotes and ${…} of the heredoc delimiter word');
        throw error;
      }
      const heredocs: Heredoc[] = [];
      for (const marker of markers) {
        const body: string[] = [];
        let bodyBytes = 0;
        let terminated = false;
        for (let next = reader.next(); next !== undefined; next = reader.next()) {
          lineNumber++;
          lastRaw = next;
          let candidate = trimNewline(next);
          if (marker.chomp) candidate = trimLeadingTabs(candidate);
          if (candidate === marker.name) {
            terminated = true;
            break;
          }
          bodyBytes += utf8Size(next, 0);
          if (bodyBytes > limits.heredocBytes) {
            return fail(`heredoc ${marker.name} is larger than the limit of ${formatSize(limits.heredocBytes)}`, range(),
              'Put large content into a file of the build context and COPY it, instead of a heredoc.');
          }
          body.push(next);
        }
        if (!terminated) {
          return fail('unterminated heredoc', range(), `end the heredoc with a line that holds only "${marker.name}"`);
        }
        const content = body.join('');
        heredocs.push({
          name: marker.name,
          content: marker.chomp ? chompHeredocContent(content) : content,
          expand: marker.expand,
          chomp: marker.chomp,
          fileDescriptor: marker.fileDescriptor,
        });
      }
      const finalRange = range();
      const child = node.child === undefined ? undefined : { ...node.child, heredocs, range: finalRange };
      node = child === undefined ? { ...node, heredocs, range: finalRange } : { ...node, heredocs, range: finalRange, child };
    }

    if (instructions.length >= limits.instructions) {
      return fail(`the Dockerfile has more than ${limits.instructions} instructions`, range(),
        'Split the build into several Dockerfiles or base images, or generate repeated steps into a script that one RUN executes.');
    }
    instructions.push(node);
    comments = [];
  }

  return { instructions, directives, escapeToken: escape, warnings };
}

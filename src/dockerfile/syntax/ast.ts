import type { SourceRange } from '../../core/index.js';

/**
 * The parse tree of a Dockerfile, shaped like BuildKit's `parser.Node` so that `dumpAst` can print
 * BuildKit's dump format exactly. The parser only splits and groups; typing and validation of flags and
 * arguments happen in `instructions/`.
 */

/** A heredoc attached to an instruction (`RUN <<EOF … EOF`). */
export interface Heredoc {
  /** The delimiter word, without quotes or `-`. */
  readonly name: string;
  /** The body, each line ending in "\n"; for `<<-` leading tabs are already removed. */
  readonly content: string;
  /** False when the delimiter was quoted (`<<"EOF"`, `<<'EOF'`): no variable expansion in the body. */
  readonly expand: boolean;
  /** True for `<<-EOF`. */
  readonly chomp: boolean;
  /** The file descriptor written before `<<` (`3<<EOF`); 0 when none was written. */
  readonly fileDescriptor: number;
}

/** One instruction, e.g. `COPY --from=build /a /b`. */
export interface InstructionNode {
  /** The keyword in lower case (`from`, `run`, …); unknown keywords are kept as written, lower-cased. */
  readonly keyword: string;
  /** `--name=value` / `--name` flags, as written (with the leading `--`), before the arguments. */
  readonly flags: readonly string[];
  /**
   * The arguments after the flags, as BuildKit's `Next` chain: for JSON (exec) form the decoded
   * strings; for shell form usually one string (the rest of the line); for ENV/LABEL/ARG the
   * key/value(/separator) triples BuildKit produces; for HEALTHCHECK/ONBUILD see `child`.
   */
  readonly args: readonly string[];
  /** True when the arguments were a JSON array (BuildKit's `json` attribute). */
  readonly json: boolean;
  /**
   * For ONBUILD: the inner instruction (same range; its own comments are empty). `args` of the ONBUILD
   * node itself is then empty; BuildKit's dump prints it as `(onbuild (run "…"))`.
   */
  readonly child?: InstructionNode | undefined;
  /**
   * Heredoc bodies, in order, for RUN/COPY/ADD in shell form. For `ONBUILD RUN <<EOF` they are on the
   * ONBUILD node (as in BuildKit) and on its `child`.
   */
  readonly heredocs: readonly Heredoc[];
  /** The instruction's source text as written, continuation lines joined (BuildKit's `Original`). */
  readonly original: string;
  /**
   * Lines are 1-based; `end` is the last line of the instruction (including heredoc bodies). Columns are
   * 1-based UTF-16 offsets: `start` is the first non-blank character, `end` is one past the last
   * character of the last line.
   */
  readonly range: SourceRange;
  /**
   * Comment lines above the instruction since the previous one, without `#` and trimmed (BuildKit's
   * `PrevComment`); a bare `#` line clears them, parser directives are not included.
   */
  readonly comments: readonly string[];
}

/** A parser directive in the header of the file (`# syntax=…`, `# escape=…`, `# check=…`). */
export interface Directive {
  readonly name: string;
  readonly value: string;
  readonly range: SourceRange;
}

export interface ParseWarning {
  readonly message: string;
  readonly range: SourceRange;
  /** Short rule name in BuildKit's style, e.g. `NoEmptyContinuation`. */
  readonly rule: string;
}

export interface DockerfileAst {
  readonly instructions: readonly InstructionNode[];
  readonly directives: readonly Directive[];
  /** `\` unless `# escape=` set it to a backtick. */
  readonly escapeToken: '\\' | '`';
  readonly warnings: readonly ParseWarning[];
}

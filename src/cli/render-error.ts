import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import { ERROR_CODES, exitCode, isStagecraftError, type SourceLocation } from '../core/index.js';

export interface RenderedError {
  readonly text: string;
  readonly exitCode: number;
}

/**
 * Turns any thrown value into the one message the user sees and the process exit status. User errors
 * (StagecraftError) get their location excerpt and hint; anything else is a bug and says so.
 */
export function renderError(error: unknown, debug: boolean): RenderedError {
  if (isStagecraftError(error)) {
    const lines = [`error: ${error.message}`];
    if (error.location !== undefined) lines.push(...excerpt(error.location));
    if (error.hint !== undefined) lines.push(`hint: ${error.hint}`);
    if (debug && error.stack !== undefined) lines.push(error.stack);
    return { text: lines.join('\n'), exitCode: exitCode(error.code) };
  }
  if (error instanceof CommanderError) {
    return { text: '', exitCode: ERROR_CODES.USAGE.exit };
  }
  const message = error instanceof Error ? error.message : String(error);
  const lines = [`error: internal error: ${message}`];
  if (debug && error instanceof Error && error.stack !== undefined) lines.push(error.stack);
  else lines.push('hint: this is a bug in stagecraft; run again with --debug for the stack trace and report it');
  return { text: lines.join('\n'), exitCode: 70 };
}

/** ` --> file:line:col` and the lines around the location, the failing ones marked with `>`. */
export function excerpt(location: SourceLocation): string[] {
  const { file, range } = location;
  const out = [` --> ${file}:${range.start.line}:${range.start.column}`];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return out;
  }
  const lines = text.split(/\r?\n/);
  const first = Math.max(1, range.start.line - 2);
  const last = Math.min(lines.length, Math.max(range.end.line, range.start.line) + 2);
  const width = String(last).length;
  for (let n = first; n <= last; n++) {
    const marked = n >= range.start.line && n <= Math.max(range.end.line, range.start.line);
    out.push(`${marked ? '>' : ' '} ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`);
  }
  return out;
}

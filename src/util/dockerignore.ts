/**
 * `.dockerignore` parsing with the rules of moby/patternmatcher's `ignorefile.ReadAll`: a UTF-8 BOM is
 * dropped, lines starting with `#` are comments, every other line is trimmed, blank lines are skipped,
 * a leading `!` (spaces after it allowed) marks an exception, and each pattern is cleaned (`path.Clean`)
 * with one leading `/` removed, so `/foo/bar` and `foo/bar` are the same pattern.
 */
import { cleanPath } from './patterns.js';

const BOM = '\uFEFF';

/** The patterns of a `.dockerignore` file, in order (feed them to `PatternMatcher.create`). */
export function parseDockerignore(content: string | Uint8Array): string[] {
  let text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
  if (text.startsWith(BOM)) text = text.slice(BOM.length);
  const patterns: string[] = [];
  const lines = text.split('\n');
  // A final newline ends the last line rather than starting an empty one.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const rawLine of lines) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    // Comments are recognised before trimming: " # x" is a pattern.
    if (line.startsWith('#')) continue;
    let pattern = line.trim();
    if (pattern === '') continue;
    const invert = pattern.startsWith('!');
    if (invert) pattern = pattern.slice(1).trim();
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    patterns.push(invert ? `!${pattern}` : pattern);
  }
  return patterns;
}

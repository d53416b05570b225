/**
 * A code-point reader with the behaviour of Go's text/scanner `Peek`/`Next` as BuildKit's lexer uses
 * them: characters are read raw (no tokenizing), EOF is -1, and a byte order mark at the very start
 * of the input is skipped.
 */
export const EOF = -1;

export class CodePointScanner {
  private readonly cps: number[];
  private pos: number;

  constructor(text: string) {
    this.cps = [];
    for (const ch of text) this.cps.push(ch.codePointAt(0) ?? 0);
    this.pos = this.cps[0] === 0xfeff ? 1 : 0;
  }

  peek(): number {
    return this.cps[this.pos] ?? EOF;
  }

  next(): number {
    const cp = this.peek();
    if (cp !== EOF) this.pos++;
    return cp;
  }
}

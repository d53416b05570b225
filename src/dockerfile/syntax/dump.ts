/**
 * BuildKit's `Node.Dump()` format, the format of the parser's `result` test files: one line per
 * instruction, `(keyword ["flags"…] "arg"…)`, strings quoted as Go's `%q`, ONBUILD's trigger nested as
 * `(onbuild (run "…"))`.
 */
import type { DockerfileAst, InstructionNode } from './ast.js';
import { goQuote, goToLower, trimSpaceGo } from './go-text.js';

/** One instruction without the outer parentheses. Iterative, so deep ONBUILD nesting is fine. */
export function dumpInstruction(node: InstructionNode): string {
  const chain: InstructionNode[] = [];
  for (let n: InstructionNode | undefined = node; n !== undefined; n = n.child) chain.push(n);
  let inner = '';
  for (let i = chain.length - 1; i >= 0; i--) {
    const n = chain[i];
    if (n === undefined) continue;
    const parts: string[] = [goToLower(n.keyword)];
    if (n.flags.length > 0) parts.push(` [${n.flags.map(goQuote).join(' ')}]`);
    if (n.child !== undefined) parts.push(` (${inner})`);
    else for (const arg of n.args) parts.push(` ${goQuote(arg)}`);
    inner = trimSpaceGo(parts.join(''));
  }
  return inner;
}

/** The whole AST, one `(…)` line per instruction, each ending in a newline ("" for no instructions). */
export function dumpAst(ast: DockerfileAst): string {
  return ast.instructions.map((node) => `(${dumpInstruction(node)})\n`).join('');
}

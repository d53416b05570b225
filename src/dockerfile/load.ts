import type { Command, ParsedDockerfile } from './instructions/index.js';
import { parseInstruction, parseStages } from './instructions/index.js';
import { parseDockerfile } from './syntax/index.js';

/** Dockerfile text → stages of typed instructions (syntax errors and instruction errors located in `file`). */
export function loadDockerfile(text: string, file: string): ParsedDockerfile {
  return parseStages(parseDockerfile(text, { file }), file);
}

/** Parses ONBUILD trigger expressions of a base image into commands. */
export function parseTriggerCommands(text: string, source: string): Command[] {
  const ast = parseDockerfile(text, { file: source });
  return ast.instructions.map((node) => {
    const instruction = parseInstruction(node, source);
    if (instruction.kind === 'from') throw new Error('unreachable: FROM is rejected as an ONBUILD trigger');
    return instruction;
  });
}

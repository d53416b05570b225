import { StagecraftError } from '../core/index.js';
import type { Command, ParsedDockerfile } from './instructions/index.js';
import { parseInstruction, parseStages } from './instructions/index.js';
import { parseDockerfile } from './syntax/index.js';

/** Dockerfile text → stages of typed instructions (syntax errors and instruction errors located in `file`). */
export function loadDockerfile(text: string, file: string): ParsedDockerfile {
  return parseStages(parseDockerfile(text, { file }), file);
}

/**
 * Parses one ONBUILD trigger expression of a base image into its command. The image is untrusted: a
 * trigger that is not exactly one instruction, or is FROM, fails with DOCKERFILE_INSTRUCTION (as in
 * BuildKit, which reports "onbuild trigger should be a single expression" / "is not a command").
 */
export function parseTriggerCommands(text: string, source: string): Command[] {
  const ast = parseDockerfile(text, { file: source });
  const fail = (message: string): never => {
    throw new StagecraftError('DOCKERFILE_INSTRUCTION', `${source}:1: ${message}`, {
      hint: 'The base image\'s ONBUILD triggers are invalid: use another base image, or rebuild it without them.',
      location: { file: source, range: { start: { line: 1, column: 1 }, end: { line: 1, column: 1 } } },
    });
  };
  const [node, ...rest] = ast.instructions;
  if (node === undefined || rest.length > 0) return fail('onbuild trigger should be a single expression');
  const instruction = parseInstruction(node, source);
  if (instruction.kind === 'from') return fail(`${node.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`);
  return [instruction];
}

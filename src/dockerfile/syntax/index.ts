export type { Directive, DockerfileAst, Heredoc, InstructionNode, ParseWarning } from './ast.js';
export { parseDockerfile, type ParseOptions } from './parser.js';
export { dumpAst, dumpInstruction } from './dump.js';
export { DIRECTIVE_NAMES } from './directives.js';

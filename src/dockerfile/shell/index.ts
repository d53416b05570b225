export { ShellLex, envFromList, type EnvLookup, type ShellLexOptions, type WordResult } from './lex.js';

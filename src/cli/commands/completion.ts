/** `stagecraft completion bash|zsh`: a completion script generated from the command tree itself. */
import type { Command } from 'commander';
import { StagecraftError } from '../../core/index.js';
import type { CliIo } from '../main.js';

function optionsOf(command: Command): string[] {
  return command.options.flatMap((o) => [o.long, o.short]).filter((f): f is string => f !== undefined);
}

export function completionScript(program: Command, shell: string): string {
  const commands = program.commands.map((c) => c.name()).filter((n) => n !== 'completion').sort();
  const global = optionsOf(program).join(' ');
  const cases = program.commands.map((c) => `    ${c.name()}) opts="${[...optionsOf(c), ...optionsOf(program)].join(' ')}" ;;`).join('\n');
  if (shell === 'bash') {
    return `# stagecraft bash completion: source <(stagecraft completion bash)
_stagecraft() {
  local cur cmd opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cmd=""
  for w in "\${COMP_WORDS[@]:1:COMP_CWORD-1}"; do case "$w" in -*) ;; *) cmd="$w"; break ;; esac; done
  if [ -z "$cmd" ]; then
    COMPREPLY=( $(compgen -W "${commands.join(' ')} completion ${global}" -- "$cur") )
    return
  fi
  case "$cmd" in
${cases}
    *) opts="${global}" ;;
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
complete -F _stagecraft stagecraft
`;
  }
  if (shell === 'zsh') {
    const described = program.commands.map((c) => `'${c.name()}:${c.description().replace(/'/g, "'\\''").replace(/:/g, '\\:')}'`).join(' ');
    const zcases = program.commands.map((c) => `    ${c.name()}) _arguments ${optionsOf(c).map((o) => `'${o}[]'`).join(' ')} '*:file:_files' ;;`).join('\n');
    return `#compdef stagecraft
# stagecraft zsh completion: source <(stagecraft completion zsh)
_stagecraft() {
  local -a commands
  commands=(${described})
  if (( CURRENT == 2 )); then _describe 'command' commands; return; fi
  case "\${words[2]}" in
${zcases}
  esac
}
compdef _stagecraft stagecraft
`;
  }
  throw new StagecraftError('USAGE', `unsupported shell "${shell}"`, { hint: 'use bash or zsh' });
}

export function registerCompletion(program: Command, io: CliIo): void {
  program
    .command('completion')
    .description('print a shell completion script (bash or zsh)')
    .argument('<shell>', 'bash or zsh')
    .addHelpText('after', '\nExamples:\n  source <(stagecraft completion bash)\n  stagecraft completion zsh > "${fpath[1]}/_stagecraft"')
    .action((shell: string) => {
      io.stdout(completionScript(program, shell));
    });
}

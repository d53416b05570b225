import type { Command } from 'commander';
import { StagecraftError, hostPlatform } from '../../core/index.js';
import { ShellLex, buildStageGraph, loadDockerfile, type StageGraph } from '../../dockerfile/index.js';
import type { CliIo } from '../main.js';
import { collect, parseBuildArgs, readBoundedDockerfile, readDockerfile } from '../options.js';
import { platformOption } from './store-context.js';

interface PlanFlags {
  file?: string;
  target?: string;
  buildArg?: string[];
  platform?: string;
  format: string;
}

const FORMATS = ['text', 'json', 'dot'];

export function registerPlan(program: Command, io: CliIo): void {
  program
    .command('plan')
    .description('show the stages of a Dockerfile, their dependencies and which ones a target needs')
    .argument('[context]', 'build context directory (the Dockerfile is looked up in it)', '.')
    .option('-f, --file <path>', 'the Dockerfile (default: CONTEXT/Dockerfile; - for stdin)')
    .option('--target <stage>', 'the stage to build (default: the last one)')
    .option('--build-arg <KEY[=VALUE]>', 'set a build argument (repeatable; KEY alone takes the value from the environment)', collect)
    .option('--platform <os/arch[/variant]>', 'target platform (default: this machine)')
    .option('--format <format>', 'text, json or dot', 'text')
    .addHelpText('after', `
Examples:
  stagecraft plan .
  stagecraft plan -f examples/hello/Dockerfile --target test examples/hello
  stagecraft plan --format dot . | dot -Tsvg > stages.svg`)
    .action((context: string, flags: PlanFlags) => {
      if (!FORMATS.includes(flags.format)) {
        throw new StagecraftError('USAGE', `unknown --format "${flags.format}"`, { hint: `use one of ${FORMATS.join(', ')}` });
      }
      const source = readDockerfile(flags.file, context, () => readBoundedDockerfile(0, '<stdin>'));
      const parsed = loadDockerfile(source.text, source.path);
      const buildPlatform = hostPlatform(process.arch);
      const graph = buildStageGraph(parsed, {
        buildArgs: parseBuildArgs(flags.buildArg ?? [], process.env),
        target: flags.target,
        buildPlatform,
        targetPlatform: platformOption(flags.platform) ?? buildPlatform,
        lex: new ShellLex({ escapeToken: parsed.escapeToken }),
      });
      if (flags.format === 'json') io.stdout(`${JSON.stringify(planJson(graph), null, 2)}\n`);
      else if (flags.format === 'dot') io.stdout(planDot(graph));
      else io.stdout(planText(graph));
      for (const arg of graph.unusedBuildArgs) io.stderr(`warning: build-arg ${arg} was not consumed by any ARG of the stages built\n`);
    });
}

function baseText(graph: StageGraph, index: number): string {
  const stage = graph.stages[index];
  if (stage === undefined) return '';
  switch (stage.base.kind) {
    case 'scratch':
      return 'scratch';
    case 'image':
      return stage.base.ref;
    case 'stage':
      return `${graph.stages[stage.base.index]?.displayName ?? '?'} (stage ${stage.base.index})`;
    case 'named':
      return `build context ${stage.base.name}`;
  }
}

export function planJson(graph: StageGraph): unknown {
  const needed = new Set(graph.needed);
  return {
    file: graph.file,
    target: { index: graph.target, name: graph.stages[graph.target]?.displayName },
    order: graph.order.map((i) => graph.stages[i]?.displayName),
    unusedBuildArgs: graph.unusedBuildArgs,
    stages: graph.stages.map((s) => ({
      index: s.index,
      name: s.name ?? null,
      displayName: s.displayName,
      base: s.base,
      platform: s.platform ?? null,
      needed: needed.has(s.index),
      line: s.stage.from.range.start.line,
      dependencies: s.dependencies,
      instructions: s.stage.commands.map((c) => ({ kind: c.kind, line: c.range.start.line, text: c.original.trim() })),
    })),
  };
}

export function planText(graph: StageGraph): string {
  const needed = new Set(graph.needed);
  const width = Math.max(...graph.stages.map((s) => s.displayName.length));
  const lines = [
    `Dockerfile: ${graph.file}`,
    `target:     ${graph.stages[graph.target]?.displayName ?? ''} (stage ${graph.target}); ${graph.needed.length} of ${graph.stages.length} stages needed`,
    '',
  ];
  for (const stage of graph.stages) {
    const mark = needed.has(stage.index) ? 'needed ' : 'skipped';
    lines.push(`${mark} #${stage.index} ${stage.displayName.padEnd(width)}  FROM ${baseText(graph, stage.index)}${stage.platform !== undefined ? ` (--platform=${stage.platform})` : ''}  [${stage.stage.commands.length} instructions]`);
    for (const dependency of stage.dependencies) {
      if (dependency.via === 'from') continue;
      const what = dependency.source.kind === 'stage' ? `stage ${graph.stages[dependency.source.index]?.displayName ?? dependency.source.index}` : dependency.source.kind === 'named' ? `build context ${dependency.source.name}` : `image ${dependency.source.ref}`;
      lines.push(`          uses ${what} (${dependency.via === 'copy' ? 'COPY --from' : 'RUN --mount from'}, line ${dependency.line})`);
    }
  }
  lines.push('', `build order: ${graph.order.map((i) => graph.stages[i]?.displayName ?? i).join(' → ')}`, '');
  return lines.join('\n');
}

function dotId(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function planDot(graph: StageGraph): string {
  const needed = new Set(graph.needed);
  const lines = ['digraph stages {', '  rankdir=LR;', '  node [shape=box];'];
  const images = new Set<string>();
  for (const stage of graph.stages) {
    const style = stage.index === graph.target ? ', style=bold' : needed.has(stage.index) ? '' : ', style=dashed';
    lines.push(`  ${dotId(`stage:${stage.index}`)} [label=${dotId(`${stage.displayName}`)}${style}];`);
    const edges: { from: string; label: string }[] = [];
    if (stage.base.kind === 'image') {
      images.add(stage.base.ref);
      edges.push({ from: `image:${stage.base.ref}`, label: 'FROM' });
    }
    for (const dependency of stage.dependencies) {
      if (dependency.source.kind === 'image') images.add(dependency.source.ref);
      const from = dependency.source.kind === 'stage' ? `stage:${dependency.source.index}` : dependency.source.kind === 'named' ? `context:${dependency.source.name}` : `image:${dependency.source.ref}`;
      edges.push({ from, label: dependency.via === 'from' ? 'FROM' : dependency.via === 'copy' ? 'COPY --from' : 'mount' });
    }
    for (const edge of edges) lines.push(`  ${dotId(edge.from)} -> ${dotId(`stage:${stage.index}`)} [label=${dotId(edge.label)}];`);
  }
  for (const image of [...images].sort()) lines.push(`  ${dotId(`image:${image}`)} [label=${dotId(image)}, shape=ellipse];`);
  lines.push('}', '');
  return lines.join('\n');
}

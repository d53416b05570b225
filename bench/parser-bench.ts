/**
 * Parse time of the Dockerfile parser on two large inputs: a 10,000-stage Dockerfile and a single 1 MB
 * line (plus a 1 MB ENV line of key=value words and a 1 MB line of nested ${…} before a heredoc). The
 * target is well under a second each. Run: node --import tsx bench/parser-bench.ts
 */
import { performance } from 'node:perf_hooks';
import { parseDockerfile } from '../src/dockerfile/syntax/index.js';

function stages(count: number): string {
  const parts: string[] = ['# syntax=docker/dockerfile:1\nARG BASE=alpine\n'];
  for (let i = 0; i < count; i++) {
    parts.push(`FROM \${BASE} AS s${i}\n`, `COPY --from=s${Math.max(0, i - 1)} /out /in\n`, `RUN echo ${i} > /out \\\n  && true\n`);
  }
  return parts.join('');
}

const MB = 1 << 20;

const inputs: { name: string; text: string; instructions: number }[] = [
  { name: '10,000 stages', text: stages(10_000), instructions: 30_001 },
  { name: '1 MB RUN line', text: `RUN echo ${'a'.repeat(MB)}\n`, instructions: 1 },
  { name: '1 MB ENV line', text: `ENV ${Array.from({ length: MB / 16 }, (_, i) => `k${i}="v ${i}"`).join(' ')}\n`, instructions: 1 },
  { name: '1 MB nested ${} + heredoc', text: `RUN <<EOF ${'${a:-'.repeat(MB / 10)}x${'}'.repeat(MB / 10)}\nbody\nEOF\n`, instructions: 1 },
];

for (const input of inputs) {
  parseDockerfile(input.text); // warm-up
  const runs = 5;
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const ast = parseDockerfile(input.text);
    best = Math.min(best, performance.now() - start);
    if (ast.instructions.length !== input.instructions) throw new Error(`${input.name}: ${ast.instructions.length} instructions`);
  }
  const size = (input.text.length / MB).toFixed(2);
  process.stdout.write(`${input.name.padEnd(28)} ${size.padStart(6)} MB  best of ${runs}: ${best.toFixed(1).padStart(8)} ms\n`);
}

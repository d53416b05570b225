// Plots and the table from a bench:scale JSON: docs/perf-style SVGs (one per dimension), a markdown
// table, and optionally the table in a document between `<!-- scale:begin -->` markers.
//   node --import tsx bench/scale/plot.ts RESULT.json [--out-dir DIR] [--json COPY.json] [--doc docs/performance.md]
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { replaceSection } from '../doc-section.js';
import { renderChart } from './chart.js';
import { ScaleResultSchema } from './schema.js';
import { chartFor, dimensionsOf, renderScaleTable } from './table.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'out-dir': { type: 'string', default: 'docs/perf' }, json: { type: 'string' }, doc: { type: 'string' } },
});
const [input] = positionals;
if (input === undefined) {
  process.stderr.write('usage: plot.ts RESULT.json [--out-dir DIR] [--json COPY.json] [--doc FILE.md]\n');
  process.exit(2);
}
const parsed = ScaleResultSchema.safeParse(JSON.parse(readFileSync(input, 'utf8')));
if (!parsed.success) {
  process.stderr.write(`plot: ${input} is not a bench:scale result: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
  process.exit(1);
}
const result = parsed.data;
const outDir = values['out-dir'];
mkdirSync(outDir, { recursive: true });
const svgs: string[] = [];
for (const dim of dimensionsOf(result)) {
  const file = join(outDir, `scale-${dim}.svg`);
  writeFileSync(file, renderChart(chartFor(result, dim)));
  svgs.push(file);
}
const table = renderScaleTable(result);
writeFileSync(join(outDir, 'scale-table.md'), table);
if (values.json !== undefined) copyFileSync(input, values.json);
if (values.doc !== undefined) {
  const doc = values.doc;
  const images = svgs.map((f) => `![${basename(f, ".svg").replace("scale-", "cold build time by ")}](${relative(dirname(doc), f)})`).join('\n');
  const body = [
    `Run ${result.date} (${result.sizes} sizes, ${result.runs} run(s) per point, cold builds; machine: ${result.machine}). Data: ${values.json ?? input}.`,
    '',
    table,
    images,
  ].join('\n');
  writeFileSync(doc, replaceSection(readFileSync(doc, 'utf8'), 'scale', body));
}
process.stdout.write(`${table}\n${svgs.join('\n')}\n`);

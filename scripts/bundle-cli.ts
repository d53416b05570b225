// Bundles the CLI into dist/cli.js (one file instead of ~300 modules: ~0.15 s less start-up per
// command). Native addons and CommonJS-only dependencies stay external and load from node_modules.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'bundle',
  // @cyclonedx/cyclonedx-library finds its schema files relative to its own directory (__dirname).
  // prom-client (`serve` /metrics), the OpenTelemetry SDK (traces, only with an OTLP endpoint),
  // kubernetes-models (22 MB of schemas, `stagecraft k8s job`), secretlint (a secret scan), cel-js and
  // yaml (a policy) are loaded with import() when needed: kept out of the bundle every command parses.
  external: ['better-sqlite3', 'zstd-napi', '@napi-rs/xattr', 'unbzip2-stream', 'xz-decompress', '@cyclonedx/cyclonedx-library', 'prom-client', '@opentelemetry/*', 'kubernetes-models', '@secretlint/core', '@secretlint/secretlint-rule-preset-recommend', '@secretlint/profiler', '@marcbachmann/cel-js', 'yaml'],
  // Bundled CommonJS modules (commander) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __stagecraftCreateRequire } from 'node:module';\nconst require = __stagecraftCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});

// The dashboard of `stagecraft serve`: its own files and uPlot's browser build, beside the CLI, so a
// built CLI serves them offline (src/server/assets.ts reads dist/dashboard).
const dashboard = 'dist/dashboard';
mkdirSync(dashboard, { recursive: true });
for (const file of ['index.html', 'app.js', 'app.css']) copyFileSync(`src/server/dashboard/${file}`, `${dashboard}/${file}`);
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) copyFileSync(`node_modules/uplot/dist/${file}`, `${dashboard}/${file}`);

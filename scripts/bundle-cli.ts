// Bundles the CLI into dist/cli-bundle.cjs (one file instead of ~300 modules: ~0.15 s less start-up
// per command) and writes dist/cli.js, the loader that runs it through V8's code cache
// (src/cli/cli-loader.ts). Native addons and CommonJS-only dependencies stay external and load from
// node_modules. CommonJS, not ESM: Node 20 compiles an ES module without a code cache, and a CommonJS
// bundle initialises a module only when it is first needed: main.ts imports each command's module
// with import(), so `stagecraft version` runs no module of the engine, and a native addon is
// required only when the module using it first runs (test/unit/cli-lazy-commands.test.ts).
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { COMMAND_MODULES } from '../src/cli/main.js';

// @cyclonedx/cyclonedx-library finds its schema files relative to its own directory (__dirname).
// prom-client (`serve` /metrics), the OpenTelemetry SDK (traces, only with an OTLP endpoint),
// kubernetes-models (22 MB of schemas, `stagecraft k8s job`), secretlint (a secret scan), cel-js and
// yaml (a policy) are loaded with import() when needed: kept out of the bundle every command parses.
export const EXTERNAL = ['better-sqlite3', 'zstd-napi', '@napi-rs/xattr', 'unbzip2-stream', 'xz-decompress', '@cyclonedx/cyclonedx-library', 'prom-client', '@opentelemetry/*', 'kubernetes-models', '@secretlint/core', '@secretlint/secretlint-rule-preset-recommend', '@secretlint/profiler', '@marcbachmann/cel-js', 'yaml'];

const bundled = await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/cli-bundle.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  packages: 'bundle',
  external: EXTERNAL,
  // The loader passes the bundle's URL in (version.ts finds package.json from it, the server its dashboard).
  define: { 'import.meta.url': '__stagecraftImportMetaUrl' },
  metafile: true,
  write: false,
  logLevel: 'warning',
  legalComments: 'none',
});
const output = bundled.outputFiles[0];
if (output === undefined) throw new Error('bundle-cli: esbuild wrote no output');
// import() of a package kept outside the bundle goes through the loader's import(): V8 cannot run an
// import() of code compiled from a code cache (vm.Script has no host callback for it then). The
// names are the externals', so nothing else in the bundle matches.
const isExternal = (name: string): boolean => EXTERNAL.some((pattern) => (pattern.endsWith('/*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern || name.startsWith(`${pattern}/`)));
let rewritten = 0;
const rewrittenSource = output.text
  .replace(/^#!.*\n/u, '')
  .replace(/\bimport\(("[^"\n]+")\)/gu, (call: string, quoted: string) => {
    const name = JSON.parse(quoted) as string;
    if (!isExternal(name)) return call;
    rewritten++;
    return `__stagecraftImport(${quoted})`;
  });
const dynamicImports = Object.values(bundled.metafile.outputs).flatMap((out) => out.imports.filter((entry) => entry.kind === 'dynamic-import' && entry.external));
if (rewritten !== dynamicImports.length) throw new Error(`bundle-cli: rewrote ${rewritten} import() calls, esbuild lists ${dynamicImports.length} of external packages`);
// The loader reads the bundle as latin1, which costs a fifth of decoding 2.6 MB as UTF-8 (~15 ms of
// CPU per command). esbuild escapes strings but leaves comments and regular expression literals as
// written; a \uXXXX escape means the same code unit in both (an astral character becomes its
// surrogate pair, which a regular expression with or without the u flag reads as that character).
const source = rewrittenSource.replace(/[^\x00-\x7f]/gu, (char: string) => [...Array(char.length).keys()].map((i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''));
if (/[^\x00-\x7f]/u.test(source)) throw new Error('bundle-cli: the bundle is not ASCII');
if (/\bimport\(\s*[^)\s]/u.test(source)) console.warn('bundle-cli: an import() call is left in the bundle; it fails when the bundle runs from the code cache');
mkdirSync('dist', { recursive: true });
writeFileSync('dist/cli-bundle.cjs', source);
writeFileSync('dist/cli-bundle.meta.json', JSON.stringify(bundled.metafile));

await build({
  entryPoints: ['src/cli/cli-loader.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  define: {
    __STAGECRAFT_BUNDLE_ID__: JSON.stringify(createHash('sha256').update(source).digest('hex')),
    // A code cache per command of these (another name, a typo included, shares `default`).
    __STAGECRAFT_COMMANDS__: JSON.stringify(['version', ...COMMAND_MODULES.flatMap((module) => module.names)]),
  },
  banner: { js: '#!/usr/bin/env node' },
  logLevel: 'error',
  legalComments: 'none',
});
rmSync('dist/code-cache', { recursive: true, force: true });

// The dashboard of `stagecraft serve`: its own files and uPlot's browser build, beside the CLI, so a
// built CLI serves them offline (src/server/assets.ts reads dist/dashboard).
const dashboard = 'dist/dashboard';
mkdirSync(dashboard, { recursive: true });
for (const file of ['index.html', 'app.js', 'app.css']) copyFileSync(`src/server/dashboard/${file}`, `${dashboard}/${file}`);
for (const file of ['uPlot.iife.min.js', 'uPlot.min.css']) copyFileSync(`node_modules/uplot/dist/${file}`, `${dashboard}/${file}`);

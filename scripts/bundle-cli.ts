// Bundles the CLI into dist/cli.js (one file instead of ~300 modules: ~0.15 s less start-up per
// command). Native addons and CommonJS-only dependencies stay external and load from node_modules.
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
  // secretlint is imported only by a secret scan, cel-js and yaml only when a policy is read (--policy,
  // policy check): kept out of the bundle every command parses.
  external: ['better-sqlite3', 'zstd-napi', '@napi-rs/xattr', 'unbzip2-stream', 'xz-decompress', '@cyclonedx/cyclonedx-library', '@secretlint/core', '@secretlint/secretlint-rule-preset-recommend', '@marcbachmann/cel-js', 'yaml'],
  // Bundled CommonJS modules (commander) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __stagecraftCreateRequire } from 'node:module';\nconst require = __stagecraftCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  legalComments: 'none',
});

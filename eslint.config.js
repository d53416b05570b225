// Lint: type-aware rules from ../shared/STYLE.md and the module layering of ../shared/DESIGN.md.
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

/** DESIGN.md's layers: a module may import only from modules of a lower layer (and itself). */
const LAYERS = [
  ['core'],
  ['util', 'events', 'config', 'oci', 'plan', 'db'],
  ['dockerfile', 'content', 'executor', 'snapshot', 'registry', 'solver'],
  ['cache', 'ops', 'image', 'attest', 'debug', 'scan', 'policy'],
  ['exporter', 'history', 'metrics', 'engine'],
  ['cli', 'server', 'k8s'],
];
/** Same-layer imports DESIGN.md names as allowed (importer → imported). */
// ops/ keys and stores results through cache/ (the build cache is the ops' result store).
// engine/ is the composition root: it composes the other L4 modules.
// policy/ judges scan/'s findings (its input object carries them).
// metrics/ renders the history's totals (the metrics are computed from the history database).
// cli/ starts server/ (`stagecraft serve`) and writes Kubernetes manifests with k8s/ (`stagecraft k8s job`).
const SIBLINGS = { ops: ['cache'], engine: ['exporter', 'history', 'metrics'], policy: ['scan'], metrics: ['history'], cli: ['server', 'k8s'] };

const layerOf = new Map(LAYERS.flatMap((mods, layer) => mods.map((m) => [m, layer])));
const zones = [];
for (const [mod, layer] of layerOf) {
  const forbidden = [...layerOf]
    .filter(([other, otherLayer]) => other !== mod && otherLayer >= layer && !(SIBLINGS[mod] ?? []).includes(other))
    .map(([other]) => `./src/${other}`);
  if (forbidden.length > 0) {
    zones.push({ target: `./src/${mod}`, from: forbidden, message: `DESIGN.md layering: ${mod} (L${layer}) may only import lower layers` });
  }
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'src/server/dashboard/**', 'bench/results/**', 'test/conformance/cases/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver': { typescript: { project: './tsconfig.json' } },
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['it', 'describe', 'test', 'before', 'after', 'beforeEach', 'afterEach'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      // AbortSignal reasons are `unknown` by design: passing them on unchanged keeps their identity.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones }],
      'no-restricted-imports': ['error', {
        paths: [
          { name: 'child_process', message: 'only executor/ and util/process.ts spawn processes' },
          { name: 'node:child_process', message: 'only executor/ and util/process.ts spawn processes' },
        ],
      }],
      'no-restricted-properties': ['error', {
        object: 'process', property: 'env', message: 'only config/ and cli/ read process.env',
      }],
    },
  },
  {
    files: ['src/executor/**', 'src/util/process.ts', 'test/**', 'scripts/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['src/config/**', 'src/cli/**', 'test/**', 'scripts/**'],
    rules: { 'no-restricted-properties': 'off' },
  },
);

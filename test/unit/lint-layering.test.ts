import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';
import { ESLint } from 'eslint';

const root = fileURLToPath(new URL('../../', import.meta.url));

async function lintProbe(files: Record<string, string>): Promise<string[]> {
  const paths = Object.keys(files).map((p) => `${root}${p}`);
  try {
    for (const [p, text] of Object.entries(files)) writeFileSync(`${root}${p}`, text);
    const eslint = new ESLint({ cwd: root });
    const results = await eslint.lintFiles(paths);
    return results.flatMap((r) => r.messages.map((m) => `${m.ruleId ?? ''}: ${m.message}`));
  } finally {
    for (const p of paths) rmSync(p, { force: true });
  }
}

it('lint rejects an import against DESIGN.md\'s layering', { timeout: 120_000 }, async () => {
  const messages = await lintProbe({ 'src/core/lint-probe-layer.ts': "import { main } from '../cli/main.js';\nexport const probe = main;\n" });
  assert.ok(messages.some((m) => m.startsWith('import-x/no-restricted-paths') && m.includes('core (L0) may only import lower layers')), messages.join('\n'));
});

it('lint rejects an import cycle', { timeout: 120_000 }, async () => {
  const messages = await lintProbe({
    'src/util/lint-probe-a.ts': "import { b } from './lint-probe-b.js';\nexport const a = (): number => b();\n",
    'src/util/lint-probe-b.ts': "import { a } from './lint-probe-a.js';\nexport const b = (): number => a();\n",
  });
  assert.ok(messages.some((m) => m.startsWith('import-x/no-cycle')), messages.join('\n'));
});

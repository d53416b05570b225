import { readFileSync } from 'node:fs';

/** `name` and `version` of a package.json, if both are strings (checked by hand: zod's start-up cost is what `version` would pay most). */
function nameAndVersion(json: unknown): { readonly name: string; readonly version: string } | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const { name, version } = json as { readonly name?: unknown; readonly version?: unknown };
  return typeof name === 'string' && typeof version === 'string' ? { name, version } : undefined;
}

/**
 * The package's version, from stagecraft's own package.json: the nearest one above this module
 * (dist/cli.js when bundled, dist/cli/version.js from tsc, src/cli/version.ts under tsx).
 */
export function packageVersion(): string {
  for (let up = new URL('../package.json', import.meta.url); ; up = new URL('../package.json', up)) {
    let text: string | undefined;
    try {
      text = readFileSync(up, 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      const parsed = nameAndVersion(JSON.parse(text));
      if (parsed?.name === 'stagecraft') return parsed.version;
    }
    if (up.pathname === '/package.json') throw new Error('stagecraft: package.json not found above the CLI');
  }
}

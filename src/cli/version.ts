import { readFileSync } from 'node:fs';
import { z } from 'zod';

const PackageJson = z.object({ name: z.string(), version: z.string() });

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
      const parsed = PackageJson.safeParse(JSON.parse(text));
      if (parsed.success && parsed.data.name === 'stagecraft') return parsed.data.version;
    }
    if (up.pathname === '/package.json') throw new Error('stagecraft: package.json not found above the CLI');
  }
}

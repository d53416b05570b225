/**
 * A module hook for the built CLI (`node --import HOOK dist/cli.js …`, or NODE_OPTIONS): it appends
 * every CommonJS require and every ES module resolution to the file named by
 * STAGECRAFT_TEST_MODULE_LOG, and `packagesOf` reads the node_modules packages out of that log.
 * Both kinds matter: dist/cli.js runs a CommonJS bundle that require()s or import()s externals.
 */
export const MODULE_LOG_HOOK = `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const log = process.env.STAGECRAFT_TEST_MODULE_LOG;
const Module = createRequire(import.meta.url)('node:module');
const load = Module._load;
Module._load = function (request, parent, isMain) {
  appendFileSync(log, 'require ' + request + '\\n');
  return load.call(this, request, parent, isMain);
};
register('data:text/javascript,' + encodeURIComponent("import { appendFileSync } from 'node:fs';\\nexport async function resolve(specifier, context, next) { const resolved = await next(specifier, context); appendFileSync(" + JSON.stringify(log) + ", 'import ' + resolved.url + '\\\\n'); return resolved; }"));
`;

/** The packages of node_modules a run loaded (from `require <name>` and `import file:///…/node_modules/<name>/…`). */
export function packagesOf(log: string): Set<string> {
  const out = new Set<string>();
  for (const line of log.split('\n')) {
    const imported = /^import file:\/\/.*\/node_modules\/((?:@[^/]+\/)?[^/]+)\//u.exec(line);
    const required = /^require ((?:@[^/]+\/)?[^/.][^/]*)/u.exec(line);
    const name = imported?.[1] ?? required?.[1];
    if (name !== undefined && !name.startsWith('node:')) out.add(name);
  }
  return out;
}

/**
 * `javascript-package`: the packages installed in node_modules directories (nested, scoped, and the
 * global /usr/lib/node_modules and /usr/local/lib/node_modules), read from each package's own
 * package.json. Lock files are not read: they say what might be installed, not what is (syft#199).
 * A package.json counts when it sits directly in `node_modules/<name>/` or
 * `node_modules/@scope/<name>/`; one without a name and a version is not a package. An application's
 * own package.json counts too when its dependencies are installed beside it (a `node_modules`
 * directory next to it, outside any node_modules), as syft and trivy list the application itself.
 */
import { z } from 'zod';
import type { CatalogContext, Cataloger, SbomPackage } from '../types.js';
import { purl } from '../purl.js';
import { READ_CONCURRENCY, errorText, mapBounded, readBounded } from './scan.js';

/** A package.json larger than this is not a real one (the largest on npm are a few hundred KiB with their readme). */
export const MAX_PACKAGE_JSON_BYTES = 4 * 1024 * 1024;

const INSTALLED = /\/node_modules\/((?:@[^/.][^/]*\/)?[^/.@][^/]*)\/package\.json$/;

const personSchema = z.union([
  z.string(),
  z.object({ name: z.unknown().optional(), email: z.unknown().optional(), url: z.unknown().optional() }).passthrough(),
]);

const licenseSchema = z.union([z.string(), z.object({ type: z.unknown().optional() }).passthrough()]);

const packageJsonSchema = z.object({
  name: z.unknown().optional(),
  version: z.unknown().optional(),
  license: z.unknown().optional(),
  licenses: z.unknown().optional(),
  homepage: z.unknown().optional(),
  author: z.unknown().optional(),
  description: z.unknown().optional(),
}).passthrough();

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function licenseText(value: unknown): string | undefined {
  const parsed = licenseSchema.safeParse(value);
  if (!parsed.success) return undefined;
  return typeof parsed.data === 'string' ? text(parsed.data) : text(parsed.data.type);
}

/** `license` as a string or `{ type }`, or the deprecated `licenses` array of either. */
export function npmLicenses(license: unknown, licenses: unknown): string[] {
  const out: string[] = [];
  const one = licenseText(license);
  if (one !== undefined) out.push(one);
  if (Array.isArray(licenses)) {
    for (const item of licenses) {
      const value = licenseText(item);
      if (value !== undefined && !out.includes(value)) out.push(value);
    }
  } else {
    const value = licenseText(licenses);
    if (value !== undefined && !out.includes(value)) out.push(value);
  }
  return out;
}

/** `Name <email> (url)` from the string or object form of `author`. */
export function npmAuthor(author: unknown): string | undefined {
  const parsed = personSchema.safeParse(author);
  if (!parsed.success) return undefined;
  if (typeof parsed.data === 'string') return text(parsed.data);
  const name = text(parsed.data.name);
  const email = text(parsed.data.email);
  const url = text(parsed.data.url);
  let out = name ?? '';
  if (email !== undefined) out += `${out === '' ? '' : ' '}<${email}>`;
  if (url !== undefined) out += `${out === '' ? '' : ' '}(${url})`;
  return out === '' ? undefined : out;
}

function npmPurl(name: string, version: string): string {
  const slash = name.indexOf('/');
  if (name.startsWith('@') && slash > 0) return purl('npm', name.slice(0, slash), name.slice(slash + 1), version);
  return purl('npm', undefined, name, version);
}

async function readPackage(context: CatalogContext, path: string): Promise<SbomPackage | undefined> {
  const data = await readBounded(context, path, MAX_PACKAGE_JSON_BYTES, 'package.json');
  if (data === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch (error) {
    context.warn(`package.json ${path}: not valid JSON (${error instanceof Error ? error.message : String(error)}); skipped`);
    return undefined;
  }
  const parsed = packageJsonSchema.safeParse(json);
  if (!parsed.success) {
    context.warn(`package.json ${path}: not a JSON object; skipped`);
    return undefined;
  }
  const name = text(parsed.data.name);
  const version = text(parsed.data.version);
  if (name === undefined || version === undefined) return undefined;
  return {
    name,
    version,
    type: 'npm',
    purl: npmPurl(name, version),
    licenses: npmLicenses(parsed.data.license, parsed.data.licenses),
    foundBy: 'javascript-package',
    locations: [{ path }],
    homepage: text(parsed.data.homepage),
    supplier: npmAuthor(parsed.data.author),
    description: text(parsed.data.description),
  };
}

export const javascriptPackageCataloger: Cataloger = {
  name: 'javascript-package',
  async catalog(context) {
    const entries = await context.fs.entries();
    const dirs = new Set(entries.filter((entry) => entry.type === 'dir').map((entry) => entry.path));
    const application = (path: string): boolean => {
      if (!path.endsWith('/package.json') || path.includes('/node_modules/')) return false;
      return dirs.has(`${path.slice(0, -'package.json'.length)}node_modules`);
    };
    const candidates = entries.filter((entry) => entry.type === 'file' && (INSTALLED.test(entry.path) || application(entry.path)));
    const found = await mapBounded(candidates, READ_CONCURRENCY, context.signal, async (entry) => {
      if (entry.size > MAX_PACKAGE_JSON_BYTES) {
        context.warn(`package.json ${entry.path}: ${entry.size} bytes, more than the ${MAX_PACKAGE_JSON_BYTES} read; skipped`);
        return undefined;
      }
      try {
        return await readPackage(context, entry.path);
      } catch (error) {
        if (context.signal.aborted) throw error;
        context.warn(`package.json ${entry.path}: ${errorText(error)}; skipped`);
        return undefined;
      }
    });
    return found.filter((item): item is SbomPackage => item !== undefined);
  },
};

/**
 * Package URLs (https://github.com/package-url/purl-spec): built with packageurl-js, which
 * percent-encodes each component and normalizes per type (pypi names lowercased, `_` → `-`;
 * qualifiers sorted by key).
 */
import { PackageURL } from 'packageurl-js';

/**
 * `pkg:type/namespace/name@version?qualifiers`. Empty qualifier values are dropped (the spec
 * says a key with an empty value is the same as no key). Throws a plain Error when `name` is
 * empty or a component is invalid for the type: catalogers pass only names they parsed.
 */
export function purl(type: string, namespace: string | undefined, name: string, version: string | undefined, qualifiers?: Record<string, string>): string {
  const kept: Record<string, string> = {};
  for (const key of Object.keys(qualifiers ?? {}).sort()) {
    const value = qualifiers?.[key];
    if (value !== undefined && value !== '') kept[key] = value;
  }
  const hasQualifiers = Object.keys(kept).length > 0;
  return new PackageURL(
    type,
    namespace === '' ? undefined : namespace,
    name,
    version === '' ? undefined : version,
    hasQualifiers ? kept : undefined,
    undefined,
  ).toString();
}

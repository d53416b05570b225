/**
 * Package URLs for the language catalogers, with the signature of `purl()` in `../purl.ts` (the
 * shared helper): one segment per path part, each percent-encoded as the purl spec asks (only
 * `A-Z a-z 0-9 . - _ ~` stay as they are; `/` separates namespace segments).
 */
function encode(part: string): string {
  return encodeURIComponent(part).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function purl(type: string, namespace: string | undefined, name: string, version: string | undefined, qualifiers?: Record<string, string>): string {
  let out = `pkg:${type}/`;
  if (namespace !== undefined && namespace !== '') {
    out += namespace.split('/').filter((s) => s !== '').map(encode).join('/') + '/';
  }
  out += encode(name);
  if (version !== undefined && version !== '') out += `@${encode(version)}`;
  const keys = Object.keys(qualifiers ?? {}).filter((k) => (qualifiers?.[k] ?? '') !== '').sort();
  if (keys.length > 0) out += '?' + keys.map((k) => `${k.toLowerCase()}=${encode(qualifiers?.[k] ?? '')}`).join('&');
  return out;
}

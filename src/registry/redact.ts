/**
 * Credentials never reach a message: URLs lose their userinfo and query (signed storage URLs carry
 * credentials in the query), and Authorization values are replaced.
 */

/** `https://user:pw@host/v2/x?X-Amz-Signature=…` → `https://host/v2/x?…` */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : new URL(url.href);
  } catch {
    return redactText(String(url));
  }
  const hadQuery = parsed.search !== '';
  parsed.username = '';
  parsed.password = '';
  parsed.search = '';
  parsed.hash = '';
  return parsed.href + (hadQuery ? '?…' : '');
}

/** Removes userinfo from URLs and Authorization-like values from free text (e.g. an error body). */
export function redactText(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1')
    .replace(/\b(authorization|proxy-authorization)(["']?\s*[:=]\s*["']?)(basic|bearer)?\s*[^\s"',}]+/gi, (_m, name: string, sep: string, scheme: string | undefined) => `${name}${sep}${scheme === undefined ? '' : `${scheme} `}<redacted>`)
    .replace(/\b(Basic|Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g, '$1 <redacted>')
    .replace(/\b(access_token|refresh_token|token|password|secret)=([^&\s"]+)/gi, '$1=<redacted>');
}

/**
 * A URL without its userinfo (`https://user:token@host/x` → `https://host/x`), as BuildKit's
 * urlutil.RedactCredentials: the rest, query included, stays, since it is part of what was fetched.
 * Not a URL (an scp-like git remote `git@host:org/repo`): unchanged, its user is not a credential.
 * A scheme URL that does not parse still loses what stands before the authority's last `@`.
 */
export function withoutCredentials(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // A scheme URL the parser refuses (a space in the password): drop everything up to the authority's last @.
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/]*@/i, '$1');
  }
  if (parsed.username === '' && parsed.password === '') return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

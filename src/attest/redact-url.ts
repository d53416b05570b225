/**
 * A URL without its userinfo (`https://user:token@host/x` → `https://host/x`), as BuildKit's
 * urlutil.RedactCredentials: the rest, query included, stays, since it is part of what was fetched.
 * Not a URL (an scp-like git remote `git@host:org/repo`): unchanged, its user is not a credential.
 */
export function withoutCredentials(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.username === '' && parsed.password === '') return url;
  parsed.username = '';
  parsed.password = '';
  return parsed.href;
}

/**
 * WWW-Authenticate parsing (RFC 7235 §4.1, RFC 9110 §11.6.1): one or more challenges, each a scheme
 * followed by comma-separated `name=value` parameters (token or quoted string). The distribution spec
 * uses `Bearer realm="…",service="…",scope="…"` and `Basic realm="…"`.
 */

export interface Challenge {
  /** Lower-cased scheme: `bearer`, `basic`, … */
  readonly scheme: string;
  /** Parameters with lower-cased names. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(header[i] ?? '')) i++;
    return header.slice(start, i);
  };
  const readQuoted = (): string => {
    // at the opening quote
    i++;
    let out = '';
    while (i < n && header[i] !== '"') {
      if (header[i] === '\\' && i + 1 < n) i++;
      out += header[i];
      i++;
    }
    i++; // closing quote (or end)
    return out;
  };
  while (i < n) {
    skipSpace();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const scheme = readToken();
    if (scheme === '') {
      i++; // a stray character
      continue;
    }
    const params: Record<string, string> = {};
    challenges.push({ scheme: scheme.toLowerCase(), params });
    for (let first = true; ; first = false) {
      skipSpace();
      const afterComma = header[i] === ',';
      while (i < n && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i++;
      const mark = i;
      const name = readToken();
      skipSpace();
      if (name !== '' && header[i] === '=' && header[i + 1] !== '=') {
        i++;
        skipSpace();
        params[name.toLowerCase()] = header[i] === '"' ? readQuoted() : readToken();
        continue;
      }
      // `Scheme token68` (e.g. `Negotiate abc==`): skip the token68.
      if (first && !afterComma && name !== '' && /^=*\s*(,|$)/.test(header.slice(i))) {
        while (header[i] === '=') i++;
        continue;
      }
      i = mark; // the next challenge's scheme
      break;
    }
  }
  return challenges;
}

/** The bearer challenge's realm/service, or the basic challenge, preferring bearer. */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer' && c.params['realm'] !== undefined) ?? challenges.find((c) => c.scheme === 'basic');
}

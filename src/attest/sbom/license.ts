/**
 * SPDX license expressions (SPDX 2.3 Annex D): which declared licenses are valid expressions over the
 * SPDX license list, and a stable `LicenseRef-` for the ones that are not. The license and exception
 * ids come from the SPDX enum that ships with @cyclonedx/cyclonedx-library.
 */
import { createHash } from 'node:crypto';
import { SPDX } from '@cyclonedx/cyclonedx-library';

/** A known SPDX license (or exception) id, in its canonical case; undefined when unknown. */
export function spdxId(text: string): string | undefined {
  return SPDX.fixupSpdxId(text);
}

type Token = { readonly kind: 'id'; readonly text: string } | { readonly kind: 'op'; readonly text: 'AND' | 'OR' | 'WITH' } | { readonly kind: 'open' | 'close' };

const REF = /^(?:DocumentRef-[A-Za-z0-9.-]+:)?LicenseRef-[A-Za-z0-9.-]+$/u;

function tokens(text: string): Token[] | undefined {
  const out: Token[] = [];
  for (const word of text.replace(/[()]/gu, ' $& ').split(/\s+/u).filter((w) => w !== '')) {
    if (word === '(') out.push({ kind: 'open' });
    else if (word === ')') out.push({ kind: 'close' });
    else if (word === 'AND' || word === 'OR' || word === 'WITH') out.push({ kind: 'op', text: word });
    else if (/^[A-Za-z0-9.:+-]+$/u.test(word)) out.push({ kind: 'id', text: word });
    else return undefined;
  }
  return out;
}

/**
 * The expression in canonical form (ids in the license list's case) when `text` is a valid SPDX
 * license expression, else undefined. Grammar: compound := simple [WITH exception] | compound
 * (AND|OR) compound | "(" compound ")"; simple := id ["+"] | LicenseRef-….
 */
export function spdxExpression(text: string): string | undefined {
  const list = tokens(text.trim());
  if (list === undefined || list.length === 0) return undefined;
  let i = 0;
  const simple = (): string | undefined => {
    const token = list[i];
    if (token?.kind !== 'id') return undefined;
    i++;
    if (REF.test(token.text)) return token.text;
    const plus = token.text.endsWith('+');
    const id = spdxId(plus ? token.text.slice(0, -1) : token.text);
    return id === undefined ? undefined : `${id}${plus ? '+' : ''}`;
  };
  const primary = (): string | undefined => {
    const token = list[i];
    if (token?.kind === 'open') {
      i++;
      const inner = compound();
      if (inner === undefined || list[i]?.kind !== 'close') return undefined;
      i++;
      return `(${inner})`;
    }
    const license = simple();
    if (license === undefined) return undefined;
    const next = list[i];
    if (next?.kind === 'op' && next.text === 'WITH') {
      i++;
      const exception = list[i];
      if (exception?.kind !== 'id') return undefined;
      const id = spdxId(exception.text);
      if (id === undefined) return undefined;
      i++;
      return `${license} WITH ${id}`;
    }
    return license;
  };
  const compound = (): string | undefined => {
    let left = primary();
    while (left !== undefined) {
      const op = list[i];
      if (op?.kind !== 'op' || op.text === 'WITH') break;
      i++;
      const right = primary();
      if (right === undefined) return undefined;
      left = `${left} ${op.text} ${right}`;
    }
    return left;
  };
  const result = compound();
  return result !== undefined && i === list.length ? result : undefined;
}

/** A stable `LicenseRef-` for a license text that is no SPDX expression (its words, then a short hash). */
export function licenseRef(text: string): string {
  const words = text.replace(/[^A-Za-z0-9.-]+/gu, '-').replace(/^-+|-+$/gu, '').slice(0, 48);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 8);
  return `LicenseRef-${words === '' ? '' : `${words}-`}${hash}`;
}

/**
 * `build --sign key=FILE[,legacy=true]`: parsed and the key unlocked before the build starts (a wrong
 * password or a damaged key fails before any step runs).
 */
import { loadSigningKey, type SigningKey } from '../attest/index.js';
import { StagecraftError } from '../core/index.js';
import { keyPassword } from './password.js';

export interface SignFlag {
  readonly keyFile: string;
  readonly legacy: boolean;
}

const KEYS = ['key', 'legacy'];

export function parseSignFlag(raw: string): SignFlag {
  const fields = new Map<string, string>();
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    const name = eq === -1 ? part : part.slice(0, eq);
    if (!KEYS.includes(name) || eq === -1) {
      throw new StagecraftError('USAGE', `invalid --sign "${raw}": ${eq === -1 ? `"${part}" is not key=value` : `unknown key "${name}"`}`, { hint: 'use --sign key=cosign.key[,legacy=true]' });
    }
    fields.set(name, part.slice(eq + 1));
  }
  const keyFile = fields.get('key');
  if (keyFile === undefined || keyFile === '') throw new StagecraftError('USAGE', `invalid --sign "${raw}": no key=FILE`, { hint: 'use --sign key=cosign.key (make one with `stagecraft keygen`)' });
  const legacyText = fields.get('legacy') ?? 'false';
  if (!['true', 'false'].includes(legacyText)) throw new StagecraftError('USAGE', `invalid --sign "${raw}": legacy=${legacyText}`, { hint: 'use legacy=true or legacy=false' });
  return { keyFile, legacy: legacyText === 'true' };
}

/** Parses the flag and loads the key (asking for its password): `{ key, legacy }` for the build. */
export async function loadSignFlag(raw: string | undefined): Promise<{ readonly key: SigningKey; readonly legacy: boolean } | undefined> {
  if (raw === undefined) return undefined;
  const flag = parseSignFlag(raw);
  return { key: await loadSigningKey(flag.keyFile, keyPassword(flag.keyFile)), legacy: flag.legacy };
}

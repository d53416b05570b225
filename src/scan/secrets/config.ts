/**
 * The texts of an image outside its layers: the config's `Env` entries, `Labels` and every
 * `history[].created_by`, the provenance predicate's string values (build-arg values in `mode=max`)
 * and the build log. A variable or build arg named like a secret (`API_TOKEN`, `DB_PASSWORD`) with a
 * literal value is reported even when no rule knows the value's shape.
 */
import type { ImageConfig } from '../../oci/index.js';
import type { SecretSite } from '../types.js';
import { fingerprint } from './text.js';

/** A text of the image that is not a layer file. */
export interface SiteText {
  readonly site: Exclude<SecretSite, 'layer'>;
  /** `Env[2]`, `Labels.token`, `history[3].created_by`, `provenance.buildDefinition…`, the log's name. */
  readonly path: string;
  readonly text: string;
}

/** A finding of the name rule (before the text rules run). */
export interface NamedFinding {
  readonly site: Exclude<SecretSite, 'layer'>;
  readonly path: string;
  readonly rule: string;
  readonly message: string;
  readonly fingerprint: string;
}

export const SENSITIVE_NAME_RULE = 'stagecraft/secret-named-variable';

const SENSITIVE_NAME = /(?:^|[_.-])(?:TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|SECRET_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH_?TOKEN)S?(?:$|[_.-])/iu;
/** Names that hold where a secret is, not the secret. */
const REFERENCE_NAME = /(?:_FILE|_PATH|_DIR|_ID|_NAME|_URL|_USER|_USERNAME|_TYPE|_LENGTH|_EXPIRY|_TTL)$/iu;

/** A literal value that could be a secret: not empty, a path, a number, a boolean or a template. */
function literalSecret(value: string): boolean {
  return value.length >= 6 && !/^(?:\/|\.\/|~\/)/u.test(value) && !/^(?:true|false|yes|no|on|off|none|null|\d+)$/iu.test(value) && !/\$\{?[A-Za-z_]/u.test(value) && !/^(?:x+|\*+|changeme|redacted)$/iu.test(value);
}

/** The name rule for `NAME=value`. */
export function namedSecret(site: Exclude<SecretSite, 'layer'>, path: string, name: string, value: string): NamedFinding | undefined {
  if (!SENSITIVE_NAME.test(name) || REFERENCE_NAME.test(name) || !literalSecret(value)) return undefined;
  return { site, path, rule: SENSITIVE_NAME_RULE, message: `a variable named like a secret (${name}) holds a literal value`, fingerprint: fingerprint(value) };
}

export interface ConfigTexts {
  readonly texts: SiteText[];
  readonly named: NamedFinding[];
}

/** Env, Labels and history of an image config. */
export function configTexts(config: ImageConfig): ConfigTexts {
  const texts: SiteText[] = [];
  const named: NamedFinding[] = [];
  for (const [i, entry] of (config.config?.Env ?? []).entries()) {
    const path = `Env[${i}]`;
    texts.push({ site: 'config', path, text: entry });
    const eq = entry.indexOf('=');
    const found = eq < 0 ? undefined : namedSecret('config', path, entry.slice(0, eq), entry.slice(eq + 1));
    if (found !== undefined) named.push(found);
  }
  for (const [key, value] of Object.entries(config.config?.Labels ?? {})) {
    const path = `Labels.${key}`;
    texts.push({ site: 'config', path, text: `${key}=${value}` });
    const found = namedSecret('config', path, key, value);
    if (found !== undefined) named.push(found);
  }
  for (const [i, entry] of (config.history ?? []).entries()) {
    if (entry.created_by !== undefined && entry.created_by !== '') texts.push({ site: 'config', path: `history[${i}].created_by`, text: entry.created_by });
  }
  return { texts, named };
}

/** Most string values read from a provenance predicate (a hostile one cannot make the scan unbounded). */
const MAX_PROVENANCE_STRINGS = 100_000;
const MAX_DEPTH = 64;

/** Every string of the provenance predicate, named by its JSON path; build args (`build-arg:NAME`) also by the name rule. */
export function provenanceTexts(predicate: unknown): ConfigTexts {
  const texts: SiteText[] = [];
  const named: NamedFinding[] = [];
  const visit = (value: unknown, path: string, depth: number): void => {
    if (texts.length >= MAX_PROVENANCE_STRINGS || depth > MAX_DEPTH) return;
    if (typeof value === 'string') {
      texts.push({ site: 'provenance', path, text: value });
      const key = /\.(?:"build-arg:([^"]+)"|build-arg:([^.[\]]+))$/u.exec(path);
      const name = key?.[1] ?? key?.[2];
      if (name !== undefined) {
        const found = namedSecret('provenance', path, name, value);
        if (found !== undefined) named.push(found);
      }
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => visit(item, `${path}[${i}]`, depth + 1));
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, item] of Object.entries(value)) visit(item, `${path}.${/^[A-Za-z_][\w:-]*$/u.test(key) ? key : JSON.stringify(key)}`, depth + 1);
    }
  };
  visit(predicate, 'provenance', 0);
  return { texts, named };
}

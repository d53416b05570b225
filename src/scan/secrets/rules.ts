/**
 * stagecraft's own secret rules: what `@secretlint/secretlint-rule-preset-recommend@11.7.1` does not
 * find (checked against its sources): private keys of every PEM type (the preset knows RSA, DSA, EC,
 * OPENSSH, PGP and PKCS#8 only, and only unencrypted), AWS access key IDs (off in the preset), GCP API
 * keys, Azure storage keys and client secrets, GitLab and Stripe tokens, `user:pass@` URLs of any
 * scheme and password alphabet (the preset: http/ftp and `[-A-Za-z0-9_]` only), `.npmrc` `_auth` /
 * `_password` (the preset: `_authToken` in files named `.npmrc`), docker `config.json` auths. A match
 * the preset also reports is dropped (same place), so a secret is reported once.
 */
import { posix } from 'node:path';

export interface SecretRule {
  /** `stagecraft/<name>`: the finding's rule. */
  readonly id: string;
  /** What was found, without the value. */
  readonly message: string;
  /** Global regex; the value is the group `value` when the regex has one, else the whole match. */
  readonly pattern: RegExp;
  /** A literal every match contains (cheap test before the regex runs over a whole file). */
  readonly keywords: readonly string[];
  /** Only for files whose path passes (default: every text). */
  readonly appliesTo?: ((path: string) => boolean) | undefined;
  /** False for a value that is a placeholder, a variable or an example. */
  readonly accept?: ((value: string) => boolean) | undefined;
}

/** `${VAR}`, `$VAR`, `{{ var }}`, `%VAR%`, `<password>`: a template, not a secret. */
function isTemplate(value: string): boolean {
  return /\$\{[^}]*\}|\$[A-Za-z_]|\{\{|\}\}|%[A-Z_]+%|^<[^>]*>$/u.test(value);
}

const PLACEHOLDERS = /^(?:x+|\*+|\.+|-+|changeme|example|password|passwd|secret|redacted|your[-_]?\w*|user(?:name)?|pass|test|dummy|none|null)$/iu;

function realValue(value: string): boolean {
  return value.length >= 4 && !isTemplate(value) && !PLACEHOLDERS.test(value) && !/EXAMPLE/u.test(value) && !/^(.)\1+$/u.test(value);
}

const isNpmrc = (path: string): boolean => /(?:^|[./])npmrc$/u.test(posix.basename(path));

export const STAGECRAFT_RULES: readonly SecretRule[] = [
  {
    id: 'stagecraft/private-key',
    message: 'private key (PEM)',
    // Any PEM private key: RSA, EC, DSA, OPENSSH, PGP, ENCRYPTED, SIGSTORE, … with a body of key material.
    pattern: /-----BEGIN (?<type>[A-Z0-9 ]{0,40})PRIVATE KEY(?: BLOCK)?-----(?<body>[\s\S]{32,16384}?)-----END \k<type>PRIVATE KEY(?: BLOCK)?-----/dgu,
    keywords: ['PRIVATE KEY'],
    accept: (value) => {
      const body = value.replace(/^-----BEGIN[^\n]*-----|-----END[^\n]*-----$/gu, '').replace(/^[A-Za-z-]+: .*$/gmu, '').replace(/\\n|\s/gu, '');
      return /^[A-Za-z0-9+/=]{32,}$/u.test(body);
    },
  },
  {
    id: 'stagecraft/aws-access-key-id',
    message: 'AWS access key ID',
    pattern: /(?<![A-Z0-9])(?<value>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})(?![A-Z0-9])/dgu,
    keywords: ['AKIA', 'ASIA', 'ABIA', 'ACCA', 'A3T'],
    accept: (value) => !value.endsWith('EXAMPLE'),
  },
  {
    id: 'stagecraft/gcp-api-key',
    message: 'Google Cloud API key',
    pattern: /(?<![A-Za-z0-9_-])(?<value>AIza[0-9A-Za-z_-]{35})(?![A-Za-z0-9_-])/dgu,
    keywords: ['AIza'],
  },
  {
    id: 'stagecraft/azure-storage-key',
    message: 'Azure storage account key',
    pattern: /AccountKey=(?<value>[A-Za-z0-9+/]{86}==)/dgu,
    keywords: ['AccountKey='],
  },
  {
    id: 'stagecraft/azure-client-secret',
    message: 'Azure AD client secret',
    pattern: /(?<![A-Za-z0-9_~.-])(?<value>[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])/dgu,
    keywords: ['Q~'],
  },
  {
    id: 'stagecraft/gitlab-token',
    message: 'GitLab token',
    pattern: /(?<![A-Za-z0-9_-])(?<value>(?:glpat|gldt|glrt|glptt|glft|glsoat|glcbt|glimt|glagent)-[A-Za-z0-9_.-]{20,})(?![A-Za-z0-9_-])/dgu,
    keywords: ['gl'],
  },
  {
    id: 'stagecraft/stripe-key',
    message: 'Stripe secret or restricted key',
    pattern: /(?<![A-Za-z0-9_])(?<value>(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{24,})(?![A-Za-z0-9_])/dgu,
    keywords: ['k_live_', 'k_test_', 'k_prod_'],
  },
  {
    id: 'stagecraft/url-credentials',
    message: 'credentials in a URL (user:password@host)',
    pattern: /\b[a-z][a-z0-9+.-]{1,20}:\/\/(?<user>[^\s:/?#@'"<>`]{1,256}):(?<value>[^\s/?#@'"<>`]{1,256})@[A-Za-z0-9[\]._-]+/dgu,
    keywords: ['://'],
    accept: realValue,
  },
  {
    id: 'stagecraft/npmrc-auth',
    message: 'npm registry credentials in an npmrc (_auth, _authToken or _password)',
    pattern: /^[ \t]*(?:\/\/[^\s=]*:)?_(?:auth|authToken|password)[ \t]*=[ \t]*["']?(?<value>[^\s"']+)/dgmu,
    keywords: ['_auth', '_password'],
    appliesTo: isNpmrc,
    accept: realValue,
  },
  {
    id: 'stagecraft/docker-config-auth',
    message: 'registry credentials in a docker config.json (auths)',
    pattern: /"(?:auth|identitytoken|registrytoken|password)"\s*:\s*"(?<value>[^"\\]{8,4096})"/dgu,
    keywords: ['"auths"'],
    accept: realValue,
  },
];

/** A match of one of stagecraft's rules, as offsets into the text. */
export interface RuleMatch {
  readonly rule: SecretRule;
  readonly value: string;
  /** Offsets of the value in the text. */
  readonly start: number;
  readonly end: number;
}

/** Every match of stagecraft's rules in `text` (a file at `path`, or a config field). */
export function matchRules(text: string, path: string): RuleMatch[] {
  const out: RuleMatch[] = [];
  for (const rule of STAGECRAFT_RULES) {
    if (rule.appliesTo !== undefined && !rule.appliesTo(path)) continue;
    if (!rule.keywords.some((keyword) => text.includes(keyword))) continue;
    for (const match of text.matchAll(rule.pattern)) {
      const value = match.groups?.value ?? match[0];
      if (rule.accept !== undefined && !rule.accept(value)) continue;
      const start = match.indices?.groups?.value?.[0] ?? match.index;
      out.push({ rule, value, start, end: start + value.length });
    }
  }
  return out;
}

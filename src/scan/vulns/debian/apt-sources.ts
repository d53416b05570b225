/**
 * The Debian mirror this machine is configured with: apt's one-line `sources.list` and deb822
 * `sources.list.d/*.sources` files (sources.list(5)). The archive is the URI that serves a release
 * suite (`bookworm`, `bookworm-updates`), the security archive the URI that serves `*-security`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface DebianMirror {
  /** The archive (`http://deb.debian.org/debian`): release and `-updates` suites. */
  readonly archive: string;
  /** The security archive (`http://deb.debian.org/debian-security`): `-security` suites. */
  readonly security: string;
}

interface SourceEntry {
  readonly uri: string;
  readonly suites: readonly string[];
}

function entriesOfList(text: string): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/u, '').trim();
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/u.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.push({ uri: m[1], suites: [m[2]] });
  }
  return out;
}

function entriesOfDeb822(text: string): SourceEntry[] {
  const out: SourceEntry[] = [];
  for (const stanza of text.split(/\n\s*\n/u)) {
    const fields = new Map<string, string>();
    let last: string | undefined;
    for (const line of stanza.split('\n')) {
      if (line.startsWith('#')) continue;
      if (/^\s/u.test(line) && last !== undefined) {
        fields.set(last, `${fields.get(last) ?? ''} ${line.trim()}`);
        continue;
      }
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/u.exec(line);
      if (m?.[1] !== undefined) {
        last = m[1].toLowerCase();
        fields.set(last, m[2] ?? '');
      }
    }
    if (!(fields.get('types') ?? '').split(/\s+/u).includes('deb') || fields.get('enabled')?.trim() === 'no') continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/u).filter((s) => s !== '');
    for (const uri of (fields.get('uris') ?? '').split(/\s+/u).filter((u) => u !== '')) out.push({ uri, suites });
  }
  return out;
}

const trim = (uri: string): string => uri.replace(/\/+$/u, '');

/**
 * The Debian archive and security archive named by the apt configuration under `root` (default `/`),
 * or undefined when it names none. Only http(s) URIs count; with no security entry, the security
 * archive is the archive's sibling `debian-security` directory (the layout of deb.debian.org).
 */
export async function aptDebianMirror(root = '/'): Promise<DebianMirror | undefined> {
  const entries: SourceEntry[] = [];
  try {
    entries.push(...entriesOfList(await readFile(join(root, 'etc/apt/sources.list'), 'utf8')));
  } catch {
    // no sources.list: deb822 files only (Debian 12's default)
  }
  let names: string[] = [];
  try {
    names = (await readdir(join(root, 'etc/apt/sources.list.d'))).sort();
  } catch {
    names = [];
  }
  for (const name of names) {
    let text: string;
    try {
      text = await readFile(join(root, 'etc/apt/sources.list.d', name), 'utf8');
    } catch {
      continue;
    }
    if (name.endsWith('.sources')) entries.push(...entriesOfDeb822(text));
    else if (name.endsWith('.list')) entries.push(...entriesOfList(text));
  }
  const http = entries.filter((e) => /^https?:\/\//u.test(e.uri));
  const archive = http.find((e) => e.suites.some((s) => /^[a-z]+(?:-updates)?$/u.test(s)) && !/security/u.test(e.uri));
  const security = http.find((e) => e.suites.some((s) => s.endsWith('-security')));
  if (archive === undefined) return security === undefined ? undefined : { archive: trim(security.uri).replace(/-security$/u, ''), security: trim(security.uri) };
  return { archive: trim(archive.uri), security: security === undefined ? securitySibling(archive.uri) : trim(security.uri) };
}

/** The security archive beside an archive URL: `…/debian` → `…/debian-security`. */
export function securitySibling(archive: string): string {
  return `${trim(archive)}-security`;
}

/** A mirror given by the user (`debianMirror`): the archive URL; its security archive is its `-security` sibling. */
export function mirrorFromUrl(archive: string): DebianMirror {
  return { archive: trim(archive), security: securitySibling(archive) };
}

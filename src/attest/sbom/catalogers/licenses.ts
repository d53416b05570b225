/**
 * Licence names as distributions write them → SPDX ids. Debian's copyright-format short names
 * (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/#license-specification) and
 * the file names in /usr/share/common-licenses; a name not listed here is kept as written.
 */
const SPDX_BY_NAME: ReadonlyMap<string, string> = new Map(Object.entries({
  'apache-2': 'Apache-2.0', 'apache-2.0': 'Apache-2.0', 'apache-1.1': 'Apache-1.1',
  'artistic': 'Artistic-1.0-Perl', 'artistic-1.0': 'Artistic-1.0', 'artistic-2.0': 'Artistic-2.0',
  'bsd': 'BSD-3-Clause', 'bsd-2-clause': 'BSD-2-Clause', 'bsd-3-clause': 'BSD-3-Clause', 'bsd-4-clause': 'BSD-4-Clause',
  'cc0': 'CC0-1.0', 'cc0-1.0': 'CC0-1.0',
  'expat': 'MIT', 'mit': 'MIT', 'isc': 'ISC', 'zlib': 'Zlib', 'curl': 'curl', 'openssl': 'OpenSSL',
  'gfdl-1.2': 'GFDL-1.2-only', 'gfdl-1.2+': 'GFDL-1.2-or-later', 'gfdl-1.3': 'GFDL-1.3-only', 'gfdl-1.3+': 'GFDL-1.3-or-later', 'gfdl': 'GFDL-1.3-only',
  'gpl': 'GPL-1.0-or-later', 'gpl-1': 'GPL-1.0-only', 'gpl-1+': 'GPL-1.0-or-later',
  'gpl-2': 'GPL-2.0-only', 'gpl-2+': 'GPL-2.0-or-later', 'gpl-2.0': 'GPL-2.0-only', 'gpl-2.0+': 'GPL-2.0-or-later',
  'gpl-3': 'GPL-3.0-only', 'gpl-3+': 'GPL-3.0-or-later', 'gpl-3.0': 'GPL-3.0-only', 'gpl-3.0+': 'GPL-3.0-or-later',
  'lgpl': 'LGPL-2.0-or-later', 'lgpl-2': 'LGPL-2.0-only', 'lgpl-2+': 'LGPL-2.0-or-later',
  'lgpl-2.0': 'LGPL-2.0-only', 'lgpl-2.0+': 'LGPL-2.0-or-later', 'lgpl-3.0': 'LGPL-3.0-only', 'lgpl-3.0+': 'LGPL-3.0-or-later',
  'lgpl-2.1': 'LGPL-2.1-only', 'lgpl-2.1+': 'LGPL-2.1-or-later', 'lgpl-3': 'LGPL-3.0-only', 'lgpl-3+': 'LGPL-3.0-or-later',
  'agpl-3': 'AGPL-3.0-only', 'agpl-3+': 'AGPL-3.0-or-later',
  'mpl-1.1': 'MPL-1.1', 'mpl-2.0': 'MPL-2.0', 'epl-1.0': 'EPL-1.0', 'epl-2.0': 'EPL-2.0',
  'python-2.0': 'Python-2.0', 'psf-2': 'PSF-2.0', 'unicode-dfs-2016': 'Unicode-DFS-2016', 'x11': 'X11',
  'public-domain': 'LicenseRef-public-domain',
}));

/** SPDX exception ids a Debian `with` clause names (matched without case and a trailing "exception"). */
const SPDX_EXCEPTIONS: ReadonlyMap<string, string> = new Map([
  'GCC-exception-2.0', 'GCC-exception-3.1', 'Linux-syscall-note', 'Autoconf-exception-2.0', 'Autoconf-exception-3.0',
  'Bison-exception-2.2', 'Classpath-exception-2.0', 'OpenSSL-exception', 'LLVM-exception', 'Libtool-exception',
  'Font-exception-2.0', 'openvpn-openssl-exception',
].map((id) => [id.toLowerCase(), id]));

/** One licence name → its SPDX id, else the name as written. */
export function spdxLicense(name: string): string {
  return SPDX_BY_NAME.get(name.toLowerCase()) ?? name;
}

/**
 * A Debian `License:` short-name expression (`GPL-2+ or Artistic`, `BSD-3-clause and MIT`) → an
 * SPDX expression when every name is known (`GPL-2.0-or-later OR Artistic-1.0-Perl`); else the
 * expression as written (also when a `with` names an exception that is not an SPDX exception id).
 */
export function spdxExpression(expression: string): string {
  const text = expression.trim().replace(/\s+/g, ' ').replace(/,$/, '');
  if (/[()]/.test(text)) return text;
  const parts = text.split(/,? (or|and) /i);
  let known = true;
  const out = parts.map((part, index) => {
    if (index % 2 === 1) return part.toLowerCase() === 'and' ? 'AND' : 'OR';
    const [name = '', exception] = part.split(/ with /i);
    const mapped = SPDX_BY_NAME.get(name.toLowerCase());
    const mappedException = exception === undefined ? undefined : SPDX_EXCEPTIONS.get(exception.replace(/ exception$/i, '').toLowerCase());
    if (mapped === undefined || (exception !== undefined && mappedException === undefined)) known = false;
    return mappedException === undefined ? mapped ?? part : `${mapped ?? name} WITH ${mappedException}`;
  });
  return known ? out.join(' ') : text;
}

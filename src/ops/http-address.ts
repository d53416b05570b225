/**
 * Where `ADD <url>` may connect. The download runs in the builder, on the host's network, so a
 * Dockerfile could otherwise read services bound to the host's loopback that its RUN steps cannot
 * reach (each step has a network namespace of its own). Loopback and unspecified addresses (which
 * connect to the host itself) are refused unless the build was given `--allow network.host`; every
 * redirect is checked again.
 *
 * Limit: the name is resolved here and again by fetch, so a DNS server that answers differently the
 * second time (rebinding) is not caught; names a user controls through /etc/hosts are trusted.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { StagecraftError } from '../core/index.js';

/** True for an address that reaches the host itself: 127.0.0.0/8, ::1, 0.0.0.0/8, ::, and their IPv4-mapped forms. */
export function isHostLocalAddress(address: string): boolean {
  let text = address.toLowerCase();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/u.exec(text);
  if (mapped?.[1] !== undefined) text = mapped[1];
  const family = isIP(text);
  if (family === 4) {
    const first = Number(text.split('.')[0]);
    return first === 127 || first === 0;
  }
  if (family === 6) {
    const expanded = expandIpv6(text);
    // IPv4-mapped in hex groups (the URL parser writes ::ffff:127.0.0.1 as ::ffff:7f00:1).
    if (expanded.startsWith('0000:0000:0000:0000:0000:ffff:')) {
      const high = Number.parseInt(expanded.slice(30, 34), 16) >> 8;
      return high === 127 || high === 0;
    }
    return expanded === '0000:0000:0000:0000:0000:0000:0000:0001' || expanded === '0000:0000:0000:0000:0000:0000:0000:0000';
  }
  return false;
}

function expandIpv6(address: string): string {
  const [head = '', tail] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = tail === undefined ? 0 : 8 - left.length - right.length;
  return [...left, ...Array<string>(Math.max(0, missing)).fill('0'), ...right].map((group) => group.padStart(4, '0')).join(':');
}

/**
 * Refuses `url` when its host is, or resolves to, a host-local address. `shown` is the URL as errors
 * may show it (credentials removed). A name that does not resolve is left to fetch to report.
 */
export async function assertRemoteHost(url: URL, shown: string): Promise<void> {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((entry) => entry.address);
    } catch {
      return;
    }
  }
  const local = addresses.find(isHostLocalAddress);
  if (local !== undefined) {
    throw new StagecraftError('USAGE', `ADD ${shown}: ${host === local ? local : `${host} (${local})`} is the build host itself; downloads from its loopback are not allowed`, {
      hint: 'RUN steps cannot reach the host\'s loopback either; serve the file on another address, or grant it with --allow network.host',
    });
  }
}

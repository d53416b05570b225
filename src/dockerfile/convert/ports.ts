/** EXPOSE port specs as BuildKit parses them: `80`, `80/udp`, `8000-8002/tcp`, `[ip:][host:]port`. */
export class PortError extends Error {}

export function parsePorts(specs: readonly string[]): string[] {
  return specs.flatMap(parsePort);
}

function parsePort(raw: string): string[] {
  const parts = raw.split(':');
  const containerPart = parts.at(-1) ?? '';
  const hostPart = parts.length >= 2 ? (parts.at(-2) ?? '') : '';
  const slash = containerPart.indexOf('/');
  const port = slash === -1 ? containerPart : containerPart.slice(0, slash);
  const proto = slash === -1 ? '' : containerPart.slice(slash + 1);
  if (port === '') throw new PortError(`invalid port: "${raw}": no port specified`);
  const lowerProto = proto.toLowerCase();
  if (!['', 'tcp', 'udp', 'sctp'].includes(lowerProto)) throw new PortError(`invalid port: "${raw}": invalid proto: ${proto}`);
  const [start, end] = parseRange(port, 'containerPort');
  if (hostPart !== '') parseRange(hostPart, 'hostPort');
  const out: string[] = [];
  for (let p = start; p <= end; p++) out.push(`${p}/${lowerProto === '' ? 'tcp' : lowerProto}`);
  return out;
}

function parseRange(text: string, what: string): [number, number] {
  const dash = text.indexOf('-');
  const startText = dash === -1 ? text : text.slice(0, dash);
  const endText = dash === -1 ? text : text.slice(dash + 1);
  const start = parseNumber(startText, what, text);
  const end = startText === endText ? start : parseNumber(endText, what, text);
  if (end < start) throw new PortError(`invalid port range: ${text}`);
  return [start, end];
}

function parseNumber(text: string, what: string, whole: string): number {
  if (!/^\d+$/.test(text)) throw new PortError(`invalid ${what}: ${whole}`);
  const n = Number.parseInt(text, 10);
  if (n > 65535) throw new PortError(`invalid ${what}: ${whole}`);
  return n;
}

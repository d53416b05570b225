/** Go's time.ParseDuration (`1h30m`, `1.5s`, `300ms`, `2us`), in nanoseconds. */
const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

export function parseGoDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest.length > 0) {
    const match = re.exec(rest);
    if (match === null) return undefined;
    total += Number.parseFloat(match[1] ?? '') * (UNIT_NS[match[2] ?? ''] ?? 0);
    rest = rest.slice(match[0].length);
  }
  return sign * Math.round(total);
}

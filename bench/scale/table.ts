// The scaling table (markdown) and the per-dimension charts from one bench:scale result.
import { fitLogLog, type Chart } from './chart.js';
import type { ScaleMeasurement, ScalePoint, ScaleResult } from './schema.js';

export const BUILDER_LABELS: Record<string, string> = { stagecraft: 'stagecraft', buildkit: 'BuildKit' };
const COLORS: Record<string, string> = { stagecraft: '#d9480f', buildkit: '#1c7ed6' };

/** 10000 → 10k, 104857600 bytes → 100 MiB. */
export function formatSize(unit: string, size: number): string {
  if (unit.includes('bytes')) {
    const mib = size / 2 ** 20;
    return mib >= 1024 ? `${+(mib / 1024).toFixed(2)} GiB` : `${+mib.toFixed(1)} MiB`;
  }
  if (size >= 1e6 && size % 1e5 === 0) return `${size / 1e6}M`;
  if (size >= 1e3 && size % 100 === 0) return `${size / 1e3}k`;
  return String(size);
}

export function dimensionsOf(result: ScaleResult): string[] {
  return [...new Set(result.points.map((p) => p.dimension))];
}

function buildersOf(points: readonly ScalePoint[]): string[] {
  return [...new Set(points.flatMap((p) => p.measurements.map((m) => m.builder)))];
}

const wallPoints = (points: readonly ScalePoint[], builder: string): { x: number; y: number }[] =>
  points.flatMap((p) => {
    const m = p.measurements.find((x) => x.builder === builder);
    return m?.wallS === undefined ? [] : [{ x: p.size, y: m.wallS }];
  });

/** The slope of log(wall time) against log(size) per builder, for one dimension. */
export function slopes(result: ScaleResult, dimension: string): Map<string, number | undefined> {
  const points = result.points.filter((p) => p.dimension === dimension);
  return new Map(buildersOf(points).map((b) => [b, fitLogLog(wallPoints(points, b))?.slope]));
}

export function chartFor(result: ScaleResult, dimension: string): Chart {
  const points = result.points.filter((p) => p.dimension === dimension).sort((a, b) => a.size - b.size);
  return {
    title: `Cold build time by ${points[0]?.unit ?? dimension}`,
    xLabel: points[0]?.unit ?? dimension,
    yLabel: 'wall seconds, cold build',
    series: buildersOf(points).map((b) => ({ name: BUILDER_LABELS[b] ?? b, color: COLORS[b] ?? '#555', points: wallPoints(points, b) })),
  };
}

const secs = (m: ScaleMeasurement | undefined): string => (m?.wallS === undefined ? (m?.error === undefined ? '-' : 'failed') : m.wallS.toFixed(2));
const mb = (m: ScaleMeasurement | undefined): string => (m?.peakRssMb === undefined ? '-' : m.peakRssMb.toFixed(0));
const slopeText = (s: number | undefined): string => (s === undefined ? '-' : s.toFixed(2));

/** The markdown: one row per dimension and size, then each dimension's slopes and whether stagecraft's grows no faster. */
export function renderScaleTable(result: ScaleResult): string {
  const lines = [
    '| dimension | size | stagecraft s | BuildKit s | ratio | stagecraft peak RSS MB | BuildKit peak RSS MB (dockerd + CLI) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const dim of dimensionsOf(result)) {
    for (const p of result.points.filter((x) => x.dimension === dim).sort((a, b) => a.size - b.size)) {
      const sc = p.measurements.find((m) => m.builder === 'stagecraft');
      const bk = p.measurements.find((m) => m.builder === 'buildkit');
      const ratio = sc?.wallS !== undefined && bk?.wallS !== undefined && bk.wallS > 0 ? (sc.wallS / bk.wallS).toFixed(2) : '-';
      lines.push(`| ${dim} | ${formatSize(p.unit, p.size)} | ${secs(sc)} | ${secs(bk)} | ${ratio} | ${mb(sc)} | ${mb(bk)} |`);
    }
  }
  lines.push('', '| dimension | sizes | stagecraft slope | BuildKit slope | stagecraft grows no faster |', '|---|---|---|---|---|');
  for (const dim of dimensionsOf(result)) {
    const s = slopes(result, dim);
    const sc = s.get('stagecraft');
    const bk = s.get('buildkit');
    const sizes = result.points.filter((p) => p.dimension === dim).map((p) => formatSize(p.unit, p.size)).join(', ');
    const verdict = sc === undefined || bk === undefined ? 'not measured' : sc <= bk ? 'yes' : `no (+${(sc - bk).toFixed(2)})`;
    lines.push(`| ${dim} | ${sizes} | ${slopeText(sc)} | ${slopeText(bk)} | ${verdict} |`);
  }
  return `${lines.join('\n')}\n`;
}

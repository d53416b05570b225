// Log-log charts written straight to SVG (no browser, no CDN), the least-squares slope of
// log(time) against log(size), and the scaling table. Pure functions: plot.ts does the files.

export interface XY { x: number; y: number }

export interface Series {
  name: string;
  color: string;
  points: XY[];
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

export interface Fit { slope: number; intercept: number }

/**
 * Least-squares fit of ln(y) = slope · ln(x) + intercept: the exponent of a power law y ∝ x^slope
 * (1: linear growth; below 1: sub-linear). Points with x or y ≤ 0 carry no log and are ignored;
 * fewer than two distinct x leave no slope (undefined).
 */
export function fitLogLog(points: readonly XY[]): Fit | undefined {
  const logs = points.filter((p) => p.x > 0 && p.y > 0 && Number.isFinite(p.x) && Number.isFinite(p.y)).map((p) => ({ u: Math.log(p.x), v: Math.log(p.y) }));
  if (new Set(logs.map((l) => l.u)).size < 2) return undefined;
  const n = logs.length;
  const mu = logs.reduce((s, l) => s + l.u, 0) / n;
  const mv = logs.reduce((s, l) => s + l.v, 0) / n;
  let suv = 0;
  let suu = 0;
  for (const l of logs) {
    suv += (l.u - mu) * (l.v - mv);
    suu += (l.u - mu) ** 2;
  }
  const slope = suv / suu;
  return { slope, intercept: mv - slope * mu };
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Whole decades that enclose the values: [10^lo, 10^hi], at least one decade wide. */
export function decades(values: readonly number[]): [number, number] {
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (positive.length === 0) return [0, 1];
  let lo = Math.floor(Math.log10(Math.min(...positive)));
  let hi = Math.ceil(Math.log10(Math.max(...positive)));
  if (hi <= lo) hi = lo + 1;
  if (hi - lo < 1) lo = hi - 1;
  return [lo, hi];
}

/** Position of v on a log axis from 10^lo (at `from`) to 10^hi (at `to`). */
export function logPosition(v: number, lo: number, hi: number, from: number, to: number): number {
  return from + ((Math.log10(v) - lo) / (hi - lo)) * (to - from);
}

const WIDTH = 640;
const HEIGHT = 420;
/** The plot area (inside the axes). */
export const PLOT = { left: 80, top: 40, right: 450, bottom: 360 } as const;

const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(2));
/** 10^k as a short label: 1k, 10M, 0.1 ... */
export function tickLabel(k: number): string {
  const v = 10 ** k;
  if (k >= 9) return `${10 ** (k - 9)}G`;
  if (k >= 6) return `${10 ** (k - 6)}M`;
  if (k >= 3) return `${10 ** (k - 3)}k`;
  return k >= 0 ? String(v) : v.toFixed(-k);
}

/** One chart: log-log axes with decade grid lines, each series' points, its fitted line, a legend with the slope. */
export function renderChart(chart: Chart): string {
  const all = chart.series.flatMap((s) => s.points);
  const [xlo, xhi] = decades(all.map((p) => p.x));
  const [ylo, yhi] = decades(all.map((p) => p.y));
  const px = (x: number): number => logPosition(x, xlo, xhi, PLOT.left, PLOT.right);
  const py = (y: number): number => logPosition(y, ylo, yhi, PLOT.bottom, PLOT.top);
  const r = (n: number): string => n.toFixed(2);
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
    `<rect class="plot" x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#444"/>`,
  ];
  // unlabelled minor grid lines at 2..9 × each decade
  for (let k = xlo; k < xhi; k++) {
    for (let m = 2; m <= 9; m++) out.push(`<line class="minor" x1="${r(px(m * 10 ** k))}" y1="${PLOT.top}" x2="${r(px(m * 10 ** k))}" y2="${PLOT.bottom}" stroke="#f1f1f1"/>`);
  }
  for (let k = ylo; k < yhi; k++) {
    for (let m = 2; m <= 9; m++) out.push(`<line class="minor" x1="${PLOT.left}" y1="${r(py(m * 10 ** k))}" x2="${PLOT.right}" y2="${r(py(m * 10 ** k))}" stroke="#f1f1f1"/>`);
  }
  for (let k = xlo; k <= xhi; k++) {
    const x = r(px(10 ** k));
    out.push(`<line class="grid-x" data-value="${10 ** k}" x1="${x}" y1="${PLOT.top}" x2="${x}" y2="${PLOT.bottom}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${PLOT.bottom + 16}" text-anchor="middle">${tickLabel(k)}</text>`);
  }
  for (let k = ylo; k <= yhi; k++) {
    const y = r(py(10 ** k));
    out.push(`<line class="grid-y" data-value="${10 ** k}" x1="${PLOT.left}" y1="${y}" x2="${PLOT.right}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${PLOT.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(k)}</text>`);
  }
  out.push(`<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 36}" text-anchor="middle">${escapeXml(chart.xLabel)} (log)</text>`);
  out.push(`<text x="18" y="${(PLOT.top + PLOT.bottom) / 2}" text-anchor="middle" transform="rotate(-90 18 ${(PLOT.top + PLOT.bottom) / 2})">${escapeXml(chart.yLabel)} (log)</text>`);
  chart.series.forEach((series, index) => {
    const name = escapeXml(series.name);
    const color = escapeXml(series.color);
    const points = series.points.filter((p) => p.x > 0 && p.y > 0);
    const fit = fitLogLog(points);
    if (fit !== undefined && points.length > 0) {
      const xs = points.map((p) => p.x);
      const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
      const yAt = (x: number): number => Math.exp(fit.intercept + fit.slope * Math.log(x));
      out.push(`<line class="fit" data-series="${name}" x1="${r(px(x0))}" y1="${r(py(yAt(x0)))}" x2="${r(px(x1))}" y2="${r(py(yAt(x1)))}" stroke="${color}" stroke-dasharray="5 4"/>`);
    }
    if (points.length > 1) out.push(`<polyline data-series="${name}" points="${points.map((p) => `${r(px(p.x))},${r(py(p.y))}`).join(' ')}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    for (const p of points) {
      out.push(`<circle class="point" data-series="${name}" data-x="${p.x}" data-y="${p.y}" cx="${r(px(p.x))}" cy="${r(py(p.y))}" r="4" fill="${color}"><title>${name}: ${fmt(p.y)} at ${fmt(p.x)}</title></circle>`);
    }
    const ly = PLOT.top + 12 + index * 22;
    out.push(`<rect x="${PLOT.right + 14}" y="${ly - 6}" width="12" height="12" fill="${color}"/>`);
    const slope = fit === undefined ? 'no slope (one point)' : `slope ${fit.slope.toFixed(2)}`;
    out.push(`<text class="legend" data-series="${name}" x="${PLOT.right + 32}" y="${ly}" dominant-baseline="middle">${name}: ${slope}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

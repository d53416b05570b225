import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { replaceSection, sectionMarkers } from '../../bench/doc-section.js';
import { fitLogLog, renderChart, type Chart } from '../../bench/scale/chart.js';
import { DIMENSIONS, sizesFor } from '../../bench/scale/dimensions.js';
import type { ScaleResult } from '../../bench/scale/schema.js';
import { chartFor, formatSize, renderScaleTable, slopes } from '../../bench/scale/table.js';

interface XmlElement { name: string; attrs: Record<string, string>; children: XmlElement[]; text: string }

/**
 * A strict little XML parser for the test: elements, attributes (quoted, unique), text, the five
 * predefined entities and numeric references, comments, one prolog. Throws on anything not
 * well-formed (unbalanced or crossed tags, a raw `<` or `&`, an unknown entity, text after the root).
 */
function parseXml(source: string): XmlElement {
  let at = 0;
  const fail = (why: string): never => {
    throw new Error(`not well-formed at ${at}: ${why}`);
  };
  const decode = (raw: string): string => {
    if (raw.includes('<')) fail('raw < in text or attribute');
    return raw.replace(/&([^;]*);?/g, (whole, name: string) => {
      if (!whole.endsWith(';')) fail(`bare & (${whole})`);
      const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
      if (named[name] !== undefined) return named[name];
      const num = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(name);
      if (num?.[1] === undefined) return fail(`unknown entity &${name};`);
      return String.fromCodePoint(num[1].startsWith('x') ? parseInt(num[1].slice(1), 16) : Number(num[1]));
    });
  };
  const skipMisc = (): void => {
    for (;;) {
      const ws = /^\s*/.exec(source.slice(at));
      at += ws?.[0].length ?? 0;
      if (source.startsWith('<!--', at)) {
        const end = source.indexOf('-->', at);
        if (end < 0) fail('unclosed comment');
        at = end + 3;
      } else return;
    }
  };
  const element = (): XmlElement => {
    const open = /^<([A-Za-z_][\w.:-]*)/.exec(source.slice(at));
    if (open?.[1] === undefined) return fail('expected an element');
    at += open[0].length;
    const node: XmlElement = { name: open[1], attrs: {}, children: [], text: '' };
    for (;;) {
      const attr = /^\s+([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/.exec(source.slice(at));
      if (attr?.[1] === undefined) break;
      if (attr[1] in node.attrs) fail(`attribute ${attr[1]} twice`);
      node.attrs[attr[1]] = decode(attr[3] ?? attr[4] ?? '');
      at += attr[0].length;
    }
    const close = /^\s*(\/?)>/.exec(source.slice(at));
    if (close === null) return fail(`bad start tag <${node.name}`);
    at += close[0].length;
    if (close[1] === '/') return node;
    for (;;) {
      const lt = source.indexOf('<', at);
      if (lt < 0) fail(`<${node.name}> never closed`);
      node.text += decode(source.slice(at, lt));
      at = lt;
      if (source.startsWith('</', at)) {
        const end = /^<\/([A-Za-z_][\w.:-]*)\s*>/.exec(source.slice(at));
        if (end?.[1] !== node.name) fail(`</${end?.[1] ?? '?'}> closes <${node.name}>`);
        at += end?.[0].length ?? 0;
        return node;
      }
      if (source.startsWith('<!--', at)) skipMisc();
      else node.children.push(element());
    }
  };
  if (source.startsWith('<?xml')) {
    const end = source.indexOf('?>');
    if (end < 0) fail('unclosed prolog');
    at = end + 2;
  }
  skipMisc();
  const root = element();
  skipMisc();
  if (at !== source.length) fail('content after the root element');
  return root;
}

const all = (node: XmlElement, pred: (e: XmlElement) => boolean): XmlElement[] =>
  [...(pred(node) ? [node] : []), ...node.children.flatMap((c) => all(c, pred))];
const num = (e: XmlElement, attr: string): number => {
  const v = e.attrs[attr];
  assert.ok(v !== undefined, `<${e.name}> has no ${attr}`);
  return Number(v);
};

/** Where a value lies on an axis, from the SVG's own decade grid lines (interpolating in log space). */
function fromGrid(lines: XmlElement[], coord: 'x1' | 'y1', value: number): number {
  const grid = lines.map((l) => ({ v: num(l, 'data-value'), p: num(l, coord) })).sort((a, b) => a.v - b.v);
  const first = grid[0];
  const last = grid[grid.length - 1];
  assert.ok(first !== undefined && last !== undefined && grid.length >= 2);
  return first.p + ((Math.log10(value) - Math.log10(first.v)) / (Math.log10(last.v) - Math.log10(first.v))) * (last.p - first.p);
}

describe('bench:scale slope fit', () => {
  it('recovers the exponent and factor of an exact power law', () => {
    const fit = fitLogLog([10, 100, 1000, 5000].map((x) => ({ x, y: 3 * x ** 1.5 })));
    assert.ok(fit !== undefined);
    assert.ok(Math.abs(fit.slope - 1.5) < 1e-9, String(fit.slope));
    assert.ok(Math.abs(fit.intercept - Math.log(3)) < 1e-9);
  });

  it('is the least-squares line through noisy points, and 0 for a flat curve', () => {
    // ln-space points (0,0), (1,1), (2,3): least squares slope 1.5 (hand computed: Σuv−n·ū·v̄ = 7−3·1·4/3 = 3, Σuu−n·ū² = 5−3 = 2)
    const e = Math.E;
    const fit = fitLogLog([{ x: 1, y: 1 }, { x: e, y: e }, { x: e * e, y: e ** 3 }]);
    assert.ok(fit !== undefined && Math.abs(fit.slope - 1.5) < 1e-9, String(fit?.slope));
    assert.equal(fitLogLog([{ x: 2, y: 5 }, { x: 20, y: 5 }])?.slope, 0);
  });

  it('has no slope for one point or one distinct size, and ignores values with no logarithm', () => {
    assert.equal(fitLogLog([{ x: 10, y: 1 }]), undefined);
    assert.equal(fitLogLog([{ x: 10, y: 1 }, { x: 10, y: 2 }]), undefined);
    const fit = fitLogLog([{ x: 10, y: 1 }, { x: 0, y: 9 }, { x: 100, y: -1 }, { x: 1000, y: 100 }]);
    assert.ok(fit !== undefined && Math.abs(fit.slope - 1) < 1e-9);
  });
});

describe('bench:scale SVG chart', () => {
  const chart: Chart = {
    title: 'Cold build time by <files> & "steps"',
    xLabel: 'context files',
    yLabel: 'wall seconds',
    series: [
      { name: 'stagecraft', color: '#d9480f', points: [{ x: 10_000, y: 2 }, { x: 100_000, y: 9 }, { x: 1_000_000, y: 70 }] },
      { name: 'Build<Kit> & co', color: '#1c7ed6', points: [{ x: 10_000, y: 1.5 }, { x: 100_000, y: 15 }] },
    ],
  };
  const svg = renderChart(chart);
  const root = parseXml(svg);

  it('is well-formed XML with an svg root, and names escape', () => {
    assert.equal(root.name, 'svg');
    assert.equal(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
    assert.equal(all(root, (e) => e.name === 'title')[0]?.text, chart.title);
    assert.throws(() => parseXml('<svg><g></svg></g>'), /not well-formed/);
    assert.throws(() => parseXml('<svg><text>a & b</text></svg>'), /not well-formed/);
  });

  it('places every point where its numbers say on the log axes drawn', () => {
    const xGrid = all(root, (e) => e.attrs.class === 'grid-x');
    const yGrid = all(root, (e) => e.attrs.class === 'grid-y');
    // decades that enclose the data: 10k..1M on x, 1..100 on y
    assert.deepEqual(xGrid.map((l) => num(l, 'data-value')), [1e4, 1e5, 1e6]);
    assert.deepEqual(yGrid.map((l) => num(l, 'data-value')), [1, 10, 100]);
    const frame = all(root, (e) => e.attrs.class === 'plot')[0];
    assert.ok(frame !== undefined);
    // the decades span the frame: the first and last grid lines are its edges, larger y upwards
    assert.equal(num(xGrid[0] ?? frame, 'x1'), num(frame, 'x'));
    assert.equal(num(xGrid[2] ?? frame, 'x1'), num(frame, 'x') + num(frame, 'width'));
    assert.equal(num(yGrid[0] ?? frame, 'y1'), num(frame, 'y') + num(frame, 'height'));
    assert.equal(num(yGrid[2] ?? frame, 'y1'), num(frame, 'y'));
    const circles = all(root, (e) => e.name === 'circle');
    assert.equal(circles.length, 5);
    for (const series of chart.series) {
      const mine = circles.filter((c) => c.attrs['data-series'] === series.name);
      assert.equal(mine.length, series.points.length, series.name);
      series.points.forEach((p, i) => {
        const c = mine[i];
        assert.ok(c !== undefined);
        assert.equal(num(c, 'data-x'), p.x);
        assert.equal(num(c, 'data-y'), p.y);
        assert.ok(Math.abs(num(c, 'cx') - fromGrid(xGrid, 'x1', p.x)) < 0.01, `${series.name} x ${p.x}`);
        assert.ok(Math.abs(num(c, 'cy') - fromGrid(yGrid, 'y1', p.y)) < 0.01, `${series.name} y ${p.y}`);
      });
    }
    // 100k files, 10 s: one decade in on both axes
    const mid = circles.find((c) => c.attrs['data-x'] === '100000' && c.attrs['data-series'] === 'stagecraft');
    assert.ok(mid !== undefined);
    assert.ok(num(mid, 'cx') > num(frame, 'x') && num(mid, 'cx') < num(frame, 'x') + num(frame, 'width'));
  });

  it('states each series fitted slope in the legend and draws its fitted line', () => {
    const legend = all(root, (e) => e.attrs.class === 'legend');
    assert.deepEqual(legend.map((l) => l.text), [
      `stagecraft: slope ${fitLogLog(chart.series[0]?.points ?? [])?.slope.toFixed(2)}`,
      'Build<Kit> & co: slope 1.00',
    ]);
    const fit = all(root, (e) => e.attrs.class === 'fit' && e.attrs['data-series'] === 'Build<Kit> & co')[0];
    assert.ok(fit !== undefined);
    const xGrid = all(root, (e) => e.attrs.class === 'grid-x');
    const yGrid = all(root, (e) => e.attrs.class === 'grid-y');
    // an exact power law: its fitted line runs through both points
    assert.ok(Math.abs(num(fit, 'x1') - fromGrid(xGrid, 'x1', 10_000)) < 0.01);
    assert.ok(Math.abs(num(fit, 'y1') - fromGrid(yGrid, 'y1', 1.5)) < 0.01);
    assert.ok(Math.abs(num(fit, 'y2') - fromGrid(yGrid, 'y1', 15)) < 0.01);
  });

  it('says so when a series has a single point', () => {
    const one = parseXml(renderChart({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 'a', color: 'red', points: [{ x: 5, y: 5 }] }] }));
    assert.equal(all(one, (e) => e.attrs.class === 'legend')[0]?.text, 'a: no slope (one point)');
  });
});

describe('bench:scale table and sizes', () => {
  const result: ScaleResult = {
    date: '2026-12-06T22:00:00Z',
    machine: 'test',
    sizes: 'small',
    runs: 1,
    points: [
      { dimension: 'steps', unit: 'steps', size: 10, measurements: [{ builder: 'stagecraft', runs: [], wallS: 2, peakRssMb: 99.6 }, { builder: 'buildkit', runs: [], wallS: 4, peakRssMb: 80 }] },
      { dimension: 'steps', unit: 'steps', size: 100, measurements: [{ builder: 'stagecraft', runs: [], wallS: 20, peakRssMb: 120 }, { builder: 'buildkit', runs: [], wallS: 16, peakRssMb: 90 }] },
      { dimension: 'layer', unit: 'layer bytes', size: 104857600, measurements: [{ builder: 'stagecraft', runs: [], wallS: 3 }, { builder: 'buildkit', runs: [], error: 'boom' }] },
    ],
  };

  it('computes per-builder slopes and the verdict per dimension', () => {
    const s = slopes(result, 'steps');
    assert.ok(Math.abs((s.get('stagecraft') ?? NaN) - 1) < 1e-9);
    assert.ok(Math.abs((s.get('buildkit') ?? NaN) - Math.log10(4)) < 1e-9);
    const table = renderScaleTable(result);
    assert.match(table, /^\| steps \| 10 \| 2\.00 \| 4\.00 \| 0\.50 \| 100 \| 80 \|$/m);
    assert.match(table, /^\| steps \| 100 \| 20\.00 \| 16\.00 \| 1\.25 \| 120 \| 90 \|$/m);
    assert.match(table, /^\| layer \| 100 MiB \| 3\.00 \| failed \| - \| - \| - \|$/m);
    assert.match(table, /^\| steps \| 10, 100 \| 1\.00 \| 0\.60 \| no \(\+0\.40\) \|$/m);
    assert.match(table, /^\| layer \| 100 MiB \| - \| - \| not measured \|$/m);
    const chart = chartFor(result, 'steps');
    assert.deepEqual(chart.series.map((x) => x.name), ['stagecraft', 'BuildKit']);
  });

  it('formats sizes and picks the two smallest sizes for --sizes small', () => {
    assert.equal(formatSize('context files', 1_000_000), '1M');
    assert.equal(formatSize('context files', 10_000), '10k');
    assert.equal(formatSize('layer bytes', 4096 * 2 ** 20), '4 GiB');
    assert.equal(formatSize('steps', 500), '500');
    const files = DIMENSIONS.find((d) => d.name === 'files');
    assert.ok(files !== undefined);
    assert.deepEqual(sizesFor(files, 'small'), [10_000, 100_000]);
    assert.deepEqual(sizesFor(files, 'full'), [10_000, 100_000, 1_000_000]);
    assert.deepEqual(DIMENSIONS.map((d) => d.name), ['files', 'layer', 'steps', 'stages']);
  });

  it('writes a dimension Dockerfile with the size it names', () => {
    const stages = DIMENSIONS.find((d) => d.name === 'stages');
    const steps = DIMENSIONS.find((d) => d.name === 'steps');
    assert.ok(stages !== undefined && steps !== undefined);
    const df = stages.dockerfile(8, 'reg/busybox');
    assert.equal(df.match(/^FROM reg\/busybox AS s\d+$/gm)?.length, 8);
    assert.equal(df.match(/^COPY --from=s\d+ /gm)?.length, 8);
    assert.equal(steps.dockerfile(100, 'b').match(/^RUN /gm)?.length, 100);
  });
});

describe('generated document sections', () => {
  const { begin, end } = sectionMarkers('scale');

  it('replaces only what lies between the markers', () => {
    const doc = `# T\n\nbefore\n${begin}\nold\n${end}\nafter\n`;
    assert.equal(replaceSection(doc, 'scale', 'new\n'), `# T\n\nbefore\n${begin}\nnew\n${end}\nafter\n`);
  });

  it('appends the section when the markers are absent, and refuses broken markers', () => {
    assert.equal(replaceSection('# T\n', 'scale', 'body'), `# T\n\n${begin}\nbody\n${end}\n`);
    assert.throws(() => replaceSection(`${end}\n${begin}\n`, 'scale', 'x'), /markers of section 'scale' are broken/);
    assert.throws(() => replaceSection(`${begin}\n${begin}\n${end}\n`, 'scale', 'x'), /broken/);
  });
});

// The stagecraft dashboard: executive, on-call and debug views and a page per build, drawn from the
// server's JSON API. Every string from the API reaches the page through text nodes (textContent),
// never as markup; charts are uPlot (served by the same server, no CDN).
'use strict';
(function () {
  const main = document.getElementById('main');
  const projectSelect = document.getElementById('f-project');
  const windowSelect = document.getElementById('f-window');
  const charts = [];

  // ---- DOM helpers: text only -------------------------------------------------------------------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = String(value);
      else if (key === 'style') Object.assign(node.style, value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }
  const buildLink = (id, label, suffix) => el('a', { href: '#/build/' + encodeURIComponent(id) + (suffix || ''), class: 'mono build-link', 'data-build': id }, label || id.slice(0, 12));
  function table(headers, rows, cls) {
    return el('table', { class: cls || '' },
      el('thead', {}, el('tr', {}, headers.map((h) => el('th', { class: h.num ? 'num' : '' }, h.label || h)))),
      el('tbody', {}, rows));
  }
  const td = (value, cls) => el('td', { class: cls || '' }, value);
  const section = (title, id, ...children) => el('section', { id }, el('h2', {}, title), ...children);

  // ---- formats (docs/dashboard.md names them) ----------------------------------------------------
  function pct(x) { return x === null || x === undefined ? '–' : (x * 100).toFixed(1) + '%'; }
  function secs(ms) { return ms === null || ms === undefined ? '–' : (ms / 1000).toFixed(1) + ' s'; }
  function bytes(n) {
    if (n === null || n === undefined) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(v) : v.toFixed(1)) + ' ' + units[i];
  }
  const when = (ms) => new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
  const status = (s) => el('span', { class: 'status-' + s }, s);
  const shortDigest = (d) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '–');
  // A cache key shortened (`sha256:0123456789ab…`); the whole key on hover (title) and in data-key.
  const cacheKey = (key) => (key ? el('span', { class: 'mono cache-key', title: key, 'data-key': key }, key.slice(0, key.indexOf(':') + 13) + '…') : el('span', { class: 'muted cache-key' }, '–'));
  const plural = (n, one, many) => n + ' ' + (n === 1 ? one : many);
  const projectName = (b) => b.project + (b.target ? ' (' + b.target + ')' : '');

  async function api(path) {
    const response = await fetch(path, { headers: { accept: 'application/json' } });
    const body = await response.json();
    if (!response.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + response.status);
    return body;
  }
  function query(extra) {
    const params = new URLSearchParams(extra || {});
    if (projectSelect.value !== '') params.set('project', projectSelect.value);
    params.set('window', windowSelect.value);
    return params.toString();
  }

  // ---- charts ------------------------------------------------------------------------------------
  const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
  function chart(id, title, xs, series, yLabel, range) {
    const box = el('div', { class: 'chart', id });
    const opts = {
      title, width: Math.max(320, Math.min(1100, main.clientWidth - 60)), height: 220,
      scales: { x: range ? { time: true, range: [range[0] / 1000, range[1] / 1000] } : { time: true } },
      series: [{}].concat(series.map((s, i) => ({ label: s.label, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: false, points: { show: true, size: 5 } }))),
      axes: [{}, { label: yLabel }],
    };
    if (typeof window.uPlot === 'function' && xs.length > 0) {
      charts.push(new window.uPlot(opts, [xs.map((x) => x / 1000)].concat(series.map((s) => s.values)), box));
    } else {
      box.append(el('p', { class: 'muted' }, xs.length === 0 ? 'No builds in this window.' : 'Charts unavailable.'));
    }
    return box;
  }

  function kpi(label, value, cls) {
    return el('div', { class: 'kpi ' + cls }, el('span', { class: 'value' }, value), el('span', { class: 'label' }, label));
  }

  // ---- views -------------------------------------------------------------------------------------
  async function executive() {
    const data = await api('/api/stats?' + query());
    fillProjects(data.projects);
    const s = data.summary;
    const xs = data.series.map((p) => p.start);
    const span = [data.sinceMs, data.untilMs];
    const out = [
      el('div', { class: 'kpis', id: 'exec-kpis' },
        kpi('builds', String(s.total), 'kpi-total'),
        kpi('success rate', pct(s.successRate), 'kpi-success-rate'),
        kpi('median build time', secs(s.p50Ms), 'kpi-p50'),
        kpi('p95 build time', secs(s.p95Ms), 'kpi-p95'),
        kpi('cache hit rate', pct(s.cacheHitRate), 'kpi-cache')),
      section('Success rate over time', 'exec-success', chart('chart-success', 'success rate (%)', xs,
        [{ label: 'success %', values: data.series.map((p) => (p.total === 0 ? null : (100 * p.success) / p.total)) }], '%', span)),
      section('Build time (successful builds)', 'exec-duration', chart('chart-duration', 'build time (s)', xs, [
        { label: 'median', values: data.series.map((p) => (p.p50Ms === null ? null : p.p50Ms / 1000)) },
        { label: 'p95', values: data.series.map((p) => (p.p95Ms === null ? null : p.p95Ms / 1000)) },
      ], 's', span)),
    ];
    const sizeXs = [...new Set(data.imageSizes.flatMap((g) => g.points.map((p) => p.start)))].sort((a, b) => a - b);
    out.push(section('Image size per project', 'exec-size', chart('chart-size', 'image size (MiB)', sizeXs, data.imageSizes.map((g) => {
      const at = new Map(g.points.map((p) => [p.start, p.size / 1048576]));
      return { label: projectName(g), values: sizeXs.map((x) => (at.has(x) ? at.get(x) : null)) };
    }), 'MiB', span)));
    out.push(section('Projects', 'exec-projects', table(['project', 'target', { label: 'builds', num: true }, { label: 'success rate', num: true }, { label: 'median', num: true }, { label: 'p95', num: true }, 'last'],
      data.projects.map((p) => el('tr', { class: 'project-row' }, td(p.project), td(p.target || '(last stage)'), td(String(p.total), 'num'), td(pct(p.success / p.total), 'num rate'), td(secs(p.p50Ms), 'num'), td(secs(p.p95Ms), 'num'), td(status(p.lastStatus)))))));
    out.push(supplyChain(data.sli));
    return out;
  }

  // Vulnerabilities by severity and SBOM/provenance coverage, from the server's SLI report (M5, M8, M10).
  function supplyChain(sli) {
    const box = section('Supply chain', 'exec-supply');
    if (!sli) {
      box.append(el('p', { class: 'muted' }, 'This server reports no supply-chain figures.'));
      return box;
    }
    const ratio = (r) => (r && r.denominator > 0 ? pct(r.value) + ' (' + r.numerator + '/' + r.denominator + ')' : '–');
    box.append(el('div', { class: 'kpis' },
      kpi('SBOM coverage', ratio(sli.sbom && sli.sbom.coverage), 'kpi-sbom'),
      kpi('provenance coverage', ratio(sli.provenanceCoverage), 'kpi-provenance'),
      kpi('signed', ratio(sli.signatureCoverage), 'kpi-signed')));
    const v = sli.vulnerabilities;
    box.append(el('h2', {}, 'Vulnerabilities by severity'));
    if (!v) box.append(el('p', { class: 'muted', id: 'vulns-none' }, 'No build in this window was scanned for vulnerabilities (build --scan).'));
    else {
      box.append(el('p', {}, 'Latest scanned build ', buildLink(v.id), v.hasData ? '' : ' (the scan had no vulnerability data to match)'));
      box.append(table(['severity', { label: 'count', num: true }], Object.entries(v.counts).map(([sev, n]) => el('tr', { class: 'vuln-row', 'data-severity': sev }, td(sev), td(String(n), 'num')))));
    }
    return box;
  }

  async function oncall() {
    const data = await api('/api/oncall?' + query());
    const failing = section('Failing now', 'oncall-failing', data.failing.length === 0 ? el('p', { class: 'muted' }, 'Nothing is failing: the latest build of every project succeeded.')
      : table(['project', 'build', 'failed step', { label: 'exit', num: true }, 'error', 'when', 'logs'], data.failing.map((f) => el('tr', { class: 'failing-row' },
        td(projectName(f.build)), td(buildLink(f.build.id)), td(f.failedStep ? f.failedStep.name : '–'), td(f.failedStep && f.failedStep.exitCode !== null ? String(f.failedStep.exitCode) : '–', 'num'),
        td(f.build.error ? (f.build.error.code || '') + ' ' + f.build.error.message.split('\n')[0] : ''), td(when(f.build.startedAt)), td(buildLink(f.build.id, 'logs', '/logs'))))));
    const groups = section('Recent failures by project', 'oncall-groups', data.failuresByProject.length === 0 ? el('p', { class: 'muted' }, 'No failures in this window.')
      : table(['project', { label: 'failures', num: true }, 'latest'], data.failuresByProject.map((g) => el('tr', { class: 'failure-group' },
        td(g.project), td(String(g.count), 'num'), td(g.builds.map((b) => [buildLink(b.id), ' ']))))));
    const cache = section('Cache', 'oncall-cache',
      el('div', { class: 'kpis' }, kpi('cache hit rate', pct(data.cache.hitRate), 'kpi-cache'), kpi('steps cached', String(data.cache.cached), 'kpi-cached'), kpi('steps executed', String(data.cache.executed), 'kpi-executed'), kpi('cache errors', String(data.cache.errors.length), 'kpi-cache-errors')),
      data.cache.errors.length === 0 ? null : table(['build', 'project', 'message'], data.cache.errors.map((e) => el('tr', {}, td(buildLink(e.buildId)), td(e.project), td(e.message)))));
    const tests = section('Blocking test-stage failures', 'oncall-tests', data.testFailures.length === 0 ? el('p', { class: 'muted' }, 'No test-stage step failed in this window.')
      : table(['build', 'stage', 'step', { label: 'exit', num: true }], data.testFailures.map((t) => el('tr', { class: 'test-failure' }, td(buildLink(t.buildId)), td(t.stage || '–'), td(t.name), td(t.exitCode === null ? '–' : String(t.exitCode), 'num')))));
    return [failing, groups, cache, tests];
  }

  function provenance(build) {
    const r = build.request;
    const facts = [
      ['build', buildLink(build.id, build.id)], ['project', build.project], ['context', build.context], ['Dockerfile', build.dockerfile],
      ['target', build.target || '(last stage)'], ['platform', build.platform], ['started', when(build.startedAt)], ['finished', when(build.endedAt)],
      ['image', build.image ? build.image.digest : '–'], ['config', build.image ? build.image.configDigest : '–'],
      ['build args', r.buildArgs.map((a) => a.name + '=' + a.value).join(' ') || '–'], ['secrets (ids)', r.secrets.join(', ') || '–'],
      ['tags', r.tags.join(', ') || '–'], ['outputs', r.outputs.join(' ') || '–'],
    ];
    const sc = build.supplyChain;
    facts.push(['SBOM / provenance / signed', sc ? [sc.sbom, sc.provenance, sc.signed].map((x) => (x ? 'yes' : 'no')).join(' / ') : 'not recorded']);
    if (sc && sc.vulns) facts.push(['vulnerabilities', Object.entries(sc.vulns.counts).map(([k, n]) => k + ' ' + n).join(', ')]);
    return el('dl', { class: 'facts provenance' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  }

  async function debug() {
    const data = await api('/api/debug?' + query());
    const recent = section('Recent builds', 'debug-recent', table(['build', 'project', 'status', { label: 'time', num: true }, 'image digest', { label: 'size', num: true }, 'logs'],
      data.recent.map((b) => el('tr', { class: 'recent-row', 'data-build': b.id }, td(buildLink(b.id)), td(projectName(b)), td(status(b.status)), td(secs(b.endedAt - b.startedAt), 'num'),
        td(b.image ? b.image.digest : '–', 'mono digest'), td(bytes(b.image ? b.image.size : null), 'num'), td(buildLink(b.id, 'logs', '/logs'))))));
    // One row per project, step and cache key: in how many recent builds the key was seen, and how often it hit.
    // The project column only when the rows come from more than one project.
    const manyProjects = new Set(data.cache.keys.map((k) => k.project)).size > 1;
    const keys = section('Cache diagnostics', 'debug-cache', table(['cache key', 'step', manyProjects ? 'project' : null, 'seen', { label: 'hits', num: true }, { label: 'misses', num: true }, 'last miss reasons'].filter((h) => h !== null),
      data.cache.keys.map((k) => el('tr', { class: 'cache-row', 'data-vertex': k.vertex, 'data-key': k.cacheKey || '' }, td(cacheKey(k.cacheKey)), td(k.name, ''), manyProjects ? td(k.project) : null,
        td((k.cacheKey ? 'key ' : 'step ') + 'seen in ' + plural(k.builds, 'build', 'builds') + ', hit ' + k.hits, 'seen'),
        td(String(k.hits), 'num hits'), td(String(k.misses), 'num misses'), td(k.lastMissReasons.join('; ') || '–')))),
    el('h2', {}, 'Most frequent miss reasons'), data.cache.reasons.length === 0 ? el('p', { class: 'muted' }, 'No cache misses explained in this window.')
      : table(['reason', { label: 'count', num: true }], data.cache.reasons.map((r) => el('tr', {}, td(r.reason), td(String(r.count), 'num')))));
    const last = section("Last successful build's provenance", 'debug-provenance', data.lastSuccess === null ? el('p', { class: 'muted' }, 'No successful build yet.') : provenance(data.lastSuccess.build));
    return [recent, keys, last];
  }

  async function buildPage(id, focus) {
    const [data, layers] = await Promise.all([api('/api/builds/' + encodeURIComponent(id)), api('/api/layers/' + encodeURIComponent(id))]);
    const b = data.build;
    const total = Math.max(1, b.endedAt - b.startedAt);
    const head = el('section', { id: 'build-summary' }, el('h2', {}, 'Build ', el('span', { class: 'mono', id: 'build-id' }, b.id)),
      el('dl', { class: 'facts' },
        el('dt', {}, 'project'), el('dd', {}, projectName(b)), el('dt', {}, 'status'), el('dd', { id: 'build-status' }, status(b.status)),
        el('dt', {}, 'duration'), el('dd', { id: 'build-duration' }, secs(b.endedAt - b.startedAt)),
        el('dt', {}, 'steps'), el('dd', {}, b.steps.total + ' (' + b.steps.executed + ' executed, ' + b.steps.cached + ' cached)'),
        el('dt', {}, 'image'), el('dd', { class: 'mono' }, b.image ? b.image.digest + ' (' + bytes(b.image.size) + ')' : '–'),
        b.traceId ? [el('dt', {}, 'trace'), el('dd', { class: 'mono', id: 'build-trace' }, data.traceUrl ? el('a', { href: data.traceUrl, rel: 'noopener noreferrer', target: '_blank' }, b.traceId) : b.traceId)] : null,
        b.error ? [el('dt', {}, 'error'), el('dd', { class: 'error', id: 'build-error' }, (b.error.code || '') + (b.error.location ? ' at ' + b.error.location.file + ':' + b.error.location.line : '') + ': ' + b.error.message)] : null));
    const waterfall = section('Step waterfall', 'build-waterfall', el('div', { class: 'waterfall' }, data.steps.map((s) => {
      const left = (100 * Math.max(0, s.startedAt - b.startedAt)) / total;
      const width = (100 * (s.durationMs || 0)) / total;
      return el('div', { class: 'wf-row', 'data-seq': s.seq },
        el('span', { class: 'wf-name', title: s.name }, '#' + s.seq + ' ' + s.name),
        el('div', { class: 'wf-track' }, el('span', { class: 'wf-bar ' + s.status, title: s.status + ' ' + secs(s.durationMs), style: { left: Math.min(100, left).toFixed(2) + '%', width: Math.min(100 - Math.min(100, left), width).toFixed(2) + '%' } })));
    })));
    const prevSteps = data.previous ? data.previous.steps : [];
    const prevOf = (s) => prevSteps.find((p) => p.name === s.name) || prevSteps.find((p) => s.location && p.location && p.location.line === s.location.line);
    const cache = section('Cache against the previous build', 'build-cache', data.previous === null ? el('p', { class: 'muted' }, 'No earlier build of this project, target and Dockerfile.') : el('p', {}, 'Previous build: ', buildLink(data.previous.build.id)),
      table(['#', 'step', 'cache key', 'now', 'previous', 'miss reasons'], data.steps.map((s) => {
        const p = prevOf(s);
        return el('tr', { class: 'cache-step', 'data-seq': s.seq }, td(String(s.seq)), td(s.name), td(cacheKey(s.cacheKey)), td(s.status), td(p ? p.status : '–'), td(s.missReasons.join('; ') || (s.status === 'cached' ? 'cache hit' : '–')));
      })));
    const biggest = Math.max(1, ...layers.layers.map((l) => l.size));
    const layerTable = section('Layers by Dockerfile line', 'build-layers', layers.layers.length === 0 ? el('p', { class: 'muted' }, 'This build made no layers.')
      : table(['line', 'instruction', { label: 'size', num: true }, '', 'digest'], layers.layers.map((l) => el('tr', { class: 'layer-row', 'data-size': l.size },
        td(l.line === null ? '–' : String(l.line), 'num'), td(l.name), td(bytes(l.size), 'num'), td(el('span', { class: 'bar', style: { width: Math.max(1, (200 * l.size) / biggest).toFixed(0) + 'px' } })), td(shortDigest(l.digest), 'mono')))),
      el('p', {}, 'Layers total ', el('span', { id: 'layers-total' }, bytes(layers.total))));
    const names = new Map(data.steps.map((s) => [s.seq, s.name]));
    const logs = section('Logs', 'build-logs', data.logs.length === 0 ? el('p', { class: 'muted' }, 'No step wrote output.')
      : data.logs.map((l) => el('details', { open: '', 'data-seq': l.seq }, el('summary', {}, '#' + l.seq + ' ' + (names.get(l.seq) || l.name)), el('pre', { class: 'log' }, l.text))));
    const prov = section('Provenance (as recorded)', 'build-provenance', provenance(b));
    const warnings = data.warnings.length === 0 ? null : section('Warnings', 'build-warnings', el('ul', {}, data.warnings.map((w) => el('li', {}, (w.rule ? w.rule + ': ' : '') + w.message + (w.location ? ' (' + w.location.file + ':' + w.location.line + ')' : '')))));
    const out = [head, waterfall, cache, layerTable, warnings, logs, prov];
    if (focus === 'logs') setTimeout(() => logs.scrollIntoView(), 0);
    return out;
  }

  // ---- routing -----------------------------------------------------------------------------------
  let knownProjects = '';
  function fillProjects(projects) {
    const names = [...new Set(projects.map((p) => p.project))].sort();
    const key = JSON.stringify(names);
    if (key === knownProjects || projectSelect.value !== '') return;
    knownProjects = key;
    projectSelect.replaceChildren(el('option', { value: '' }, 'all'), names.map((n) => el('option', { value: n }, n)));
  }

  async function render() {
    document.body.dataset.ready = '0';
    while (charts.length > 0) charts.pop().destroy();
    const hash = location.hash || '#/exec';
    const parts = hash.slice(2).split('/').map(decodeURIComponent);
    for (const link of document.querySelectorAll('nav a')) link.classList.toggle('active', link.getAttribute('href') === '#/' + parts[0]);
    try {
      let content;
      if (parts[0] === 'oncall') content = await oncall();
      else if (parts[0] === 'debug') content = await debug();
      else if (parts[0] === 'build' && parts[1]) content = await buildPage(parts[1], parts[2]);
      else content = await executive();
      main.replaceChildren(...content.filter(Boolean));
      document.body.dataset.view = parts[0] || 'exec';
      document.body.dataset.ready = '1';
    } catch (error) {
      main.replaceChildren(el('p', { class: 'error', id: 'load-error' }, String(error && error.message ? error.message : error)));
      document.body.dataset.ready = 'error';
    }
  }
  window.addEventListener('hashchange', render);
  projectSelect.addEventListener('change', render);
  windowSelect.addEventListener('change', render);
  render();
})();

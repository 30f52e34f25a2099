// The report browser: Tables 3 and 4, the test queries with their neighbours (misses first, a
// class filter), and a t-SNE map where clicking a point shows its image.
import { api, classColour, el, fmt, say } from './dom.js';

const $ = (id) => document.getElementById(id);
const state = { summary: null, offset: 0, map: null, loaded: false };
const PAGE = 10;

/** A table of the report ({ title, columns, rows, notes }), the best value per numeric column in bold. */
function tableView(t, id, modelIds) {
  if (!t) return el('p', { class: 'meta' }, 'not in this report');
  const models = t.rows.filter((r) => modelIds.includes(r[0]));
  const best = t.columns.map((c, j) => {
    if (j === 0 || /_lo$|_hi$|^queries$/.test(c)) return null;
    const v = models.map((r) => r[j]).filter((x) => typeof x === 'number');
    return v.length ? Math.max(...v) : null;
  });
  const head = el('tr', {}, ...t.columns.map((c) => el('th', {}, c)));
  const body = t.rows.map((r) =>
    el(
      'tr',
      {},
      ...r.map((v, j) =>
        el('td', { class: best[j] !== null && v === best[j] && modelIds.includes(r[0]) ? 'best' : null }, fmt(v)),
      ),
    ),
  );
  return el(
    'figure',
    { class: 'table', id },
    el('figcaption', {}, t.title),
    el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, head), el('tbody', {}, ...body))),
    ...(t.notes || []).map((n) => el('p', { class: 'meta' }, n)),
  );
}

function neighbourCard(n) {
  return el(
    'div',
    { class: `nb ${n.correct ? 'hit' : 'miss'}`, title: n.path },
    el('img', { src: `/api/report/image?row=${n.row}`, alt: n.path, loading: 'lazy' }),
    el(
      'div',
      { class: 'line' },
      el('span', { class: 'rank' }, `#${n.rank}`),
      n.similarity !== null ? el('span', { class: 'sim' }, fmt(n.similarity)) : null,
      el('span', { class: `mark ${n.correct ? 'ok' : 'no'}` }, n.correct ? '✓' : '✗'),
    ),
    el('div', { class: 'cls' }, n.class),
  );
}

function queryRow(q) {
  return el(
    'div',
    { class: `qrow${q.miss ? ' is-miss' : ''}`, 'data-row': q.row },
    el(
      'div',
      { class: 'q' },
      el('img', { src: `/api/report/image?row=${q.row}`, alt: q.path, loading: 'lazy' }),
      el('div', { class: 'cls' }, q.class),
      el('div', { class: 'meta' }, `${q.dataset} · ${q.hits} of ${q.neighbours.length} share its class`),
      q.miss ? el('div', { class: 'miss-tag' }, 'top-1 miss') : null,
    ),
    el('div', { class: 'nbs' }, ...q.neighbours.map(neighbourCard)),
  );
}

async function loadQueries(append) {
  const p = new URLSearchParams({ model: $('r-model').value, offset: String(state.offset), limit: String(PAGE) });
  if ($('r-class').value) p.set('class', $('r-class').value);
  try {
    const r = await api(`/api/report/queries?${p}`);
    const rows = r.queries.map(queryRow);
    if (append) $('r-queries').append(...rows);
    else $('r-queries').replaceChildren(...rows);
    state.offset = r.offset + r.queries.length;
    $('r-more').hidden = state.offset >= r.total;
    const sims = r.similarities ? '' : ' (similarities not available: read from knn.csv)';
    $('r-count').textContent = `${r.total} test queries, ${r.misses} with a top-1 miss (shown first)${sims}`;
  } catch (e) {
    say($('r-count'), '', e);
  }
}

function resetQueries() {
  state.offset = 0;
  loadQueries(false);
}

function showPoint(m, i) {
  const row = m.rows[i];
  $('r-point').hidden = false;
  $('r-point-img').src = `/api/report/image?row=${row}`;
  $('r-point-name').textContent = m.paths[i];
  $('r-point-meta').textContent = `class ${m.classes[m.cls[i]]} · ${m.modalities[m.modality[i]]} · manifest row ${row}`;
  for (const c of $('r-map').querySelectorAll('circle.chosen')) c.classList.remove('chosen');
  $('r-map').querySelector(`circle[data-i="${i}"]`)?.classList.add('chosen');
}

/** The map as SVG circles, scaled into the view box; a click on a point shows its image. */
function drawMap(m) {
  const W = 600,
    H = 440,
    pad = 14;
  const [x0, x1] = [Math.min(...m.x), Math.max(...m.x)];
  const [y0, y1] = [Math.min(...m.y), Math.max(...m.y)];
  const sx = (W - 2 * pad) / (x1 - x0 || 1),
    sy = (H - 2 * pad) / (y1 - y0 || 1);
  const ns = 'http://www.w3.org/2000/svg';
  const byModality = $('r-map-colour').value === 'modality';
  const svg = $('r-map');
  svg.replaceChildren();
  m.x.forEach((x, i) => {
    const c = document.createElementNS(ns, 'circle');
    c.setAttribute('cx', (pad + (x - x0) * sx).toFixed(1));
    c.setAttribute('cy', (H - pad - (m.y[i] - y0) * sy).toFixed(1));
    c.setAttribute('r', '4');
    c.setAttribute('fill', classColour(byModality ? m.modality[i] : m.cls[i]));
    c.setAttribute('data-i', String(i));
    const t = document.createElementNS(ns, 'title');
    t.textContent = `${m.classes[m.cls[i]]}\n${m.paths[i]}`;
    c.append(t);
    c.addEventListener('click', () => showPoint(m, i));
    svg.append(c);
  });
  $('r-map-note').textContent = `${m.note}. Click a point to see its image.`;
  const names = byModality ? m.modalities : m.classes;
  $('r-map-legend').replaceChildren(
    ...names.map((n, i) => el('span', {}, el('i', { style: `background:${classColour(i)}` }), n)),
  );
}

async function loadMap() {
  $('r-map-draw').disabled = true;
  say($('r-map-note'), 'Computing the t-SNE map on the server…');
  try {
    const m = await api(`/api/report/tsne?model=${encodeURIComponent($('r-model').value)}`);
    state.map = m;
    drawMap(m);
  } catch (e) {
    say($('r-map-note'), '', e);
  } finally {
    $('r-map-draw').disabled = false;
  }
}

async function init() {
  const s = await api('/api/report');
  state.summary = s;
  $('r-model').replaceChildren(...s.models.map((m) => el('option', { value: m }, m)));
  $('r-class').replaceChildren(
    el('option', { value: '' }, 'all classes'),
    ...s.classes.map((c) => el('option', {}, c)),
  );
  const d = s.dataset;
  $('r-dataset').textContent =
    `${d.images} images, ${d.classes} classes, ${d.splits.test} test queries against ${d.splits.train} index images`;
  if (s.warning) say($('r-warning'), '', { message: s.warning });
  $('r-warning').hidden = !s.warning;
  $('r-tables').replaceChildren(
    tableView(s.tables.table3, 'table3', s.models),
    tableView(s.tables.table4, 'table4', s.models),
  );
  resetQueries();
}

$('r-model').addEventListener('change', () => {
  resetQueries();
  $('r-map').replaceChildren();
  $('r-map-legend').replaceChildren();
  state.map = null;
  $('r-point').hidden = true;
});
$('r-class').addEventListener('change', resetQueries);
$('r-more').addEventListener('click', () => loadQueries(true));
$('r-map-draw').addEventListener('click', loadMap);
$('r-map-colour').addEventListener('change', () => state.map && drawMap(state.map));
document.addEventListener('tab', (e) => {
  if (e.detail !== 'report' || state.loaded) return;
  state.loaded = true;
  init().catch((err) => say($('r-count'), '', err));
});

// The search page: drop or pick an image, see its top-k from the index, filter, click through.
import { api, el, fmt, say } from './dom.js';

const $ = (id) => document.getElementById(id);
const state = { info: null, query: null, busy: 0 };

/** The search options of the form, as query parameters. */
function params() {
  const p = new URLSearchParams();
  p.set('k', $('f-k').value);
  if ($('f-modality').value) p.set('modality', $('f-modality').value);
  if ($('f-dataset').value) p.set('dataset', $('f-dataset').value);
  if ($('f-exclude').checked) p.set('excludeSelf', '1');
  return p;
}

function fillSelect(select, values, all) {
  select.replaceChildren(
    ...(all ? [el('option', { value: '' }, all)] : []),
    ...values.map(([v, label]) => el('option', { value: v }, label)),
  );
}

async function init() {
  const info = await api('/api/index');
  state.info = info;
  const count = (o) => Object.entries(o).map(([v, n]) => [v, `${v} (${n})`]);
  fillSelect($('f-modality'), count(info.facets.modality), 'all modalities');
  fillSelect($('f-dataset'), count(info.facets.dataset), 'all datasets');
  const ks = [...new Set([5, 10, 20, 50, info.k])].filter((k) => k <= info.maxK).sort((a, b) => a - b);
  fillSelect(
    $('f-k'),
    ks.map((k) => [k, `top ${k}`]),
  );
  $('f-k').value = String(info.k);
  const i = info.index;
  $('index-info').textContent =
    `${info.model.id} · ${i.kind} index of ${i.size.toLocaleString('en')} images · ${info.classes} classes`;
  if (info.report) $('tab-report').hidden = false;
  if (info.report && location.hash === '#report') $('tab-report').click();
}

/** The query card: the image (a DICOM is shown through /api/preview), its name and class. */
async function showQuery(q) {
  $('query').hidden = false;
  $('query-name').textContent = q.name;
  $('query-meta').textContent = '';
  if (q.row !== undefined) $('query-img').src = `/api/image?row=${q.row}`;
  else if (/^image\/(png|jpeg|webp|gif|bmp)$/.test(q.file.type)) $('query-img').src = URL.createObjectURL(q.file);
  else {
    const res = await fetch('/api/preview', { method: 'POST', body: q.file });
    $('query-img').src = res.ok ? URL.createObjectURL(await res.blob()) : '';
  }
}

function resultCard(hit, queryClass) {
  const known = !!queryClass && !!hit.class;
  const ok = known && hit.class === queryClass;
  return el(
    'button',
    {
      type: 'button',
      class: `result${known ? (ok ? ' hit' : ' miss') : ''}`,
      'data-row': hit.row,
      title: `${hit.path}\nclick to search with this image`,
      onclick: () => run({ row: hit.row, name: hit.path }),
    },
    el('div', { class: 'thumb' }, el('img', { src: `/api/image?row=${hit.row}`, alt: hit.path, loading: 'lazy' })),
    el(
      'div',
      { class: 'line' },
      el('span', { class: 'rank' }, `#${hit.rank}`),
      el('span', { class: 'sim', title: 'cosine similarity' }, fmt(hit.similarity)),
      known ? el('span', { class: `mark ${ok ? 'ok' : 'no'}` }, ok ? '✓' : '✗') : null,
    ),
    el('div', { class: 'cls' }, hit.class || 'class unknown'),
    el('div', { class: 'meta' }, [hit.dataset, hit.modality].filter(Boolean).join(' · ')),
  );
}

function showResults(r) {
  const q = r.queries[0];
  const hits = q.results;
  const right = q.class ? hits.filter((h) => h.class === q.class).length : null;
  $('query-meta').textContent = q.class ? `class ${q.class} · ${right} of ${hits.length} results share it` : '';
  const filter = Object.entries(r.filter)
    .map(([key, v]) => `${key} ${v.join(' or ')}`)
    .join(', ');
  const note = hits.length < r.k ? ` (only ${hits.length} index images pass the filter)` : '';
  say($('status'), `Top ${hits.length} of ${r.index.size.toLocaleString('en')}${filter ? `, ${filter}` : ''}${note}`);
  $('grid').replaceChildren(...hits.map((h) => resultCard(h, q.class)));
}

/** Search with a query ({ file } or { row }) and the form's options; the newest search wins. */
async function run(query) {
  state.query = query;
  const ticket = ++state.busy;
  const p = params();
  const max = state.info?.maxUpload;
  say($('status'), 'Searching…');
  document.body.classList.add('busy');
  try {
    showQuery(query).catch(() => undefined);
    if (query.file && max && query.file.size > max)
      throw Object.assign(
        new Error(`${query.name} is ${(query.file.size / 1e6).toFixed(1)} MB: over the upload limit`),
        {
          hint: `the server accepts images up to ${(max / 1e6).toFixed(0)} MB`,
        },
      );
    let r;
    if (query.row !== undefined) {
      p.set('row', query.row);
      r = await api(`/api/search?${p}`);
    } else {
      p.set('name', query.name);
      r = await api(`/api/search?${p}`, { method: 'POST', body: query.file });
    }
    if (ticket === state.busy) showResults(r);
  } catch (e) {
    if (ticket === state.busy) {
      say($('status'), '', e);
      $('grid').replaceChildren();
    }
  } finally {
    if (ticket === state.busy) document.body.classList.remove('busy');
  }
}

function pick(files) {
  const file = files && files[0];
  if (file) run({ file, name: file.name });
}

function wire() {
  const drop = $('drop');
  $('file').addEventListener('change', (e) => pick(e.target.files));
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    pick(e.dataTransfer.files);
  });
  for (const id of ['f-modality', 'f-dataset', 'f-k', 'f-exclude'])
    $(id).addEventListener('change', () => state.query && run(state.query));
  for (const b of document.querySelectorAll('[data-tab]'))
    b.addEventListener('click', () => {
      for (const o of document.querySelectorAll('[data-tab]')) o.classList.toggle('active', o === b);
      $('search-view').hidden = b.dataset.tab !== 'search';
      $('report-view').hidden = b.dataset.tab !== 'report';
      document.dispatchEvent(new CustomEvent('tab', { detail: b.dataset.tab }));
    });
}

wire();
init().catch((e) => say($('status'), '', e));

// Small DOM helpers shared by the page's scripts (plain DOM, no framework).

/** An element: el('div', { class: 'x', onclick }, child, 'text', …). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c);
  return e;
}

/** A similarity or fraction with 3 decimals; '' for none. */
export function fmt(v) {
  if (v === null || v === undefined || v === '') return '';
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

/** JSON from the API; a failed answer throws its { error, hint } as an Error. */
export async function api(path, init) {
  const res = await fetch(path, init);
  const body = await res.json().catch(() => ({ error: `the server answered ${res.status}` }));
  if (!res.ok) {
    const e = new Error(body.error || `the server answered ${res.status}`);
    e.hint = body.hint;
    e.status = res.status;
    throw e;
  }
  return body;
}

/** Show a message (or an error with its hint) in a status line. */
export function say(node, text, error) {
  node.textContent = '';
  node.classList.toggle('error', !!error);
  if (!error) return void (node.textContent = text);
  node.append(el('strong', {}, error.message));
  if (error.hint) node.append(el('div', { class: 'hint' }, error.hint));
}

/** A colour per class index, well spread around the hue circle. */
export function classColour(i) {
  return `hsl(${(i * 137.508) % 360} 62% 48%)`;
}

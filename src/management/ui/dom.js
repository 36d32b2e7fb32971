// Small DOM helpers shared by the pages: element building (text only, never HTML strings), formatting,
// sortable tables that keep their sort across refreshes, and the panels a page is made of.
import { NotAvailableError } from './api.js';

/**
 * h('a', { href: '#/', class: 'x', onclick: fn, dataset: { id: '1' } }, 'text', child, [more])
 * Strings become text nodes; null, undefined and false are left out.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'value' || key === 'checked' || key === 'selected' || key === 'disabled') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** replace every child of `el` */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// ---------------------------------------------------------------- formatting

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

/** a count with thousands separators; '–' when unknown */
export function count(value) {
  if (value === undefined || value === null || value === '') return '–';
  const n = Number(value);
  return Number.isFinite(n) ? integer.format(n) : String(value);
}

/** a per-second rate, one decimal */
export function rate(value) {
  if (value === undefined || value === null) return '–';
  const n = Number(value);
  return Number.isFinite(n) ? `${decimal.format(n)}/s` : '–';
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(value) {
  if (value === undefined || value === null) return '–';
  let n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  let unit = 0;
  while (n >= 1024 && unit < BYTE_UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  // a no-break space: a number and its unit never part at a line end
  return unit === 0 ? `${n}\u00a0B` : `${decimal.format(n)}\u00a0${BYTE_UNITS[unit]}`;
}

export function yesNo(value) {
  if (value === undefined || value === null) return '–';
  return value ? 'yes' : 'no';
}

/** a time as the API gives it (ms since the epoch, seconds, or an ISO string) in local time */
export function time(value) {
  if (value === undefined || value === null || value === '') return '–';
  let date;
  if (typeof value === 'number') date = new Date(value < 1e11 ? value * 1000 : value);
  else date = new Date(String(value));
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** objects and arrays as compact `key: value` text; plain values as themselves */
export function plain(value) {
  if (value === undefined || value === null) return '–';
  if (typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? '–' : value.map(plain).join(', ');
  const entries = Object.entries(value);
  return entries.length === 0 ? '–' : entries.map(([k, v]) => `${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`).join(', ');
}

/** the name RabbitMQ's UI shows for the default exchange */
export function exchangeName(name) {
  return name === '' || name === undefined ? 'amq.default' : name;
}

// ---------------------------------------------------------------- links

/** a hash route from parts, each URL-encoded: route('queues', '/', 'q') is '#/queues/%2F/q' */
export function route(...parts) {
  return '#/' + parts.map((p) => encodeURIComponent(p)).join('/');
}

export function link(parts, text) {
  return h('a', { href: route(...parts) }, text);
}

// ---------------------------------------------------------------- tables

/**
 * A table whose rows are replaced on every refresh while its sort and filter stay.
 * columns: [{ label, cell(row) → text or node, sort?(row) → value, numeric? }]
 */
export class DataTable {
  constructor({ columns, empty = 'Nothing to show.', label, filter = false, keyOf = null }) {
    this.columns = columns;
    this.empty = empty;
    this.rows = [];
    this.sortColumn = -1;
    this.descending = false;
    this.filterText = '';
    this.keyOf = keyOf;
    this.body = h('tbody');
    this.head = h(
      'tr',
      {},
      columns.map((c, i) =>
        h(
          'th',
          { scope: 'col', class: c.numeric ? 'numeric' : undefined },
          h('button', { type: 'button', class: 'sort', onclick: () => this.sortBy(i) }, c.label),
        ),
      ),
    );
    const table = h('table', { class: 'data', 'aria-label': label }, h('thead', {}, this.head), this.body);
    this.filterInput = filter
      ? h('input', {
          type: 'search',
          class: 'filter',
          placeholder: 'Filter by name',
          'aria-label': `Filter ${label}`,
          oninput: (e) => this.setFilter(e.target.value),
        })
      : null;
    this.element = h('div', { class: 'table-wrap' }, this.filterInput, h('div', { class: 'scroll' }, table));
  }

  setFilter(text) {
    this.filterText = text.trim().toLowerCase();
    this.render();
  }

  sortBy(index) {
    if (this.sortColumn === index) this.descending = !this.descending;
    else {
      this.sortColumn = index;
      this.descending = false;
    }
    this.render();
  }

  update(rows) {
    this.rows = Array.isArray(rows) ? rows : [];
    this.render();
  }

  render() {
    let rows = this.rows;
    if (this.filterText !== '' && this.keyOf !== null) rows = rows.filter((r) => String(this.keyOf(r)).toLowerCase().includes(this.filterText));
    const column = this.columns[this.sortColumn];
    if (column !== undefined) {
      const value = column.sort ?? ((r) => textOf(column.cell(r)));
      rows = [...rows].sort((a, b) => compare(value(a), value(b)) * (this.descending ? -1 : 1));
    }
    this.head.querySelectorAll('th').forEach((th, i) => {
      th.setAttribute('aria-sort', i === this.sortColumn ? (this.descending ? 'descending' : 'ascending') : 'none');
    });
    if (rows.length === 0) {
      replace(
        this.body,
        h('tr', { class: 'empty' }, h('td', { colspan: this.columns.length }, this.rows.length === 0 ? this.empty : 'No rows match the filter.')),
      );
      return;
    }
    replace(
      this.body,
      rows.map((r) =>
        h(
          'tr',
          {},
          this.columns.map((c) => h('td', { class: c.numeric ? 'numeric' : undefined }, c.cell(r))),
        ),
      ),
    );
  }
}

function textOf(cell) {
  if (cell instanceof Node) return cell.textContent ?? '';
  return cell ?? '';
}

function compare(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

/** a two-column table of label → value */
export function facts(pairs) {
  return h(
    'table',
    { class: 'facts' },
    h(
      'tbody',
      {},
      pairs.filter((p) => p !== null).map(([label, value]) => h('tr', {}, h('th', { scope: 'row' }, label), h('td', {}, value ?? '–'))),
    ),
  );
}

// ---------------------------------------------------------------- panels

/** a titled section; `body` is the element whose content refreshes replace */
export function panel(title, ...content) {
  const body = h('div', { class: 'panel-body' }, content);
  const element = h('section', { class: 'panel', 'aria-label': title }, h('h2', {}, title), body);
  return { element, body };
}

/** what a panel shows when its data could not be had */
export function problem(err) {
  if (err instanceof NotAvailableError) return h('p', { class: 'not-available', role: 'note' }, `Not available: ${err.message} yet.`);
  return h('p', { class: 'error', role: 'alert' }, `Could not load: ${err?.message ?? String(err)}`);
}

/** big-number cards: [{ label, value }] */
export function cards(items) {
  return h(
    'div',
    { class: 'cards' },
    items.map(({ label, value, tone }) =>
      h(
        'div',
        { class: `card${tone ? ' ' + tone : ''}`, role: 'group', 'aria-label': label },
        h('div', { class: 'card-value' }, value),
        h('div', { class: 'card-label' }, label),
      ),
    ),
  );
}

/** a state badge: firing/ok, running/idle, Stable, ... */
export function badge(text, tone) {
  return h('span', { class: `badge ${tone ?? ''}`.trim() }, text);
}

/** a page whose one panel is a table refreshed from `load()` */
export function listPage({ title, table, load }) {
  const body = h('div', {}, table.element);
  const element = h('div', { class: 'page' }, h('h1', {}, title), body);
  return {
    title,
    element,
    refresh: async () => {
      try {
        const rows = await load();
        if (table.element.parentNode !== body) replace(body, table.element);
        table.update(rows ?? []);
      } catch (err) {
        replace(body, problem(err));
      }
    },
  };
}

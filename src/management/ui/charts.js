// Canvas charts drawn by hand: a time-series line chart (message rates, depths over a rolling window) and a
// horizontal stacked bar chart (depth per queue). Each keeps its data and redraws on update and on resize;
// the legend is HTML so its current values can be read (and found by a test) like any other text.
import { h, replace } from './dom.js';

/** CSS pixels */
const LINE_CHART_HEIGHT = 200;
const BAR_ROW_HEIGHT = 26;
/** the narrowest time window a line chart shows, ms */
const MIN_WINDOW_MS = 60_000;
/** spacings of the time axis labels, ms: the first that gives at most six intervals */
const TIME_TICKS_MS = [10_000, 15_000, 30_000, 60_000, 120_000];
const BAR_CHART_PADDING = 12;
/** most queues the depth chart draws; the rest are counted below it */
const MAX_BARS = 12;
const AXIS_COLOR = '#8a94a6';
const GRID_COLOR = '#e3e7ee';
const TEXT_COLOR = '#475063';
const FONT = '12px system-ui, sans-serif';

/** the smallest 1, 2 or 5 × 10^n at or above `value` (at least `floor`) */
export function niceCeiling(value, floor = 1) {
  const v = Math.max(value, floor);
  const magnitude = 10 ** Math.floor(Math.log10(v));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= v) return step * magnitude;
  return 10 * magnitude;
}

/** how many gridline intervals split `ceiling` evenly (whole steps when the values are counts) */
export function gridIntervals(ceiling, whole) {
  if (!whole) return 5;
  for (const n of [5, 4, 2]) if (Number.isInteger(ceiling / n)) return n;
  return 1;
}

/** draw once the canvas is in the document (a chart built before its page is shown has no size yet) */
function whenAttached(chart) {
  if (chart.canvas.isConnected) return true;
  if (!chart.drawPending) {
    chart.drawPending = true;
    requestAnimationFrame(() => {
      chart.drawPending = false;
      if (chart.canvas.isConnected) chart.draw();
    });
  }
  return false;
}

/** size the canvas's backing store to its CSS box at the device's pixel ratio; the 2D context, in CSS pixels */
function prepare(canvas, cssHeight) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(canvas.clientWidth, 1);
  canvas.style.height = `${cssHeight}px`;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(cssHeight * ratio);
  const g = canvas.getContext('2d');
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, cssHeight);
  g.font = FONT;
  return { g, width };
}

/** '-2m30s', '-45s', 'now' */
function shortDuration(ms) {
  const s = Math.round(ms / 1000);
  if (s === 0) return 'now';
  const minutes = Math.floor(s / 60);
  const seconds = s % 60;
  if (minutes === 0) return `-${seconds}s`;
  return seconds === 0 ? `-${minutes}m` : `-${minutes}m${seconds}s`;
}

/** Charts redraw when the window is resized; one listener serves them all and forgets detached ones. */
const liveCharts = new Set();
window.addEventListener('resize', () => {
  for (const chart of liveCharts) {
    if (chart.canvas.isConnected) chart.draw();
    else liveCharts.delete(chart);
  }
});

/**
 * A line per series over a rolling time window. samples: [{ t: ms, [series.key]: number | null }], oldest first;
 * null leaves a gap.
 */
export class LineChart {
  constructor({ label, series, format, windowMs, whole = false }) {
    this.label = label;
    this.whole = whole;
    this.series = series;
    this.format = format;
    this.windowMs = windowMs;
    this.samples = [];
    this.drawPending = false;
    this.canvas = h('canvas', { role: 'img', 'aria-label': label, class: 'chart', dataset: { points: '0' } });
    this.legend = h('ul', { class: 'legend', 'aria-label': `${label} legend` });
    this.element = h('figure', { class: 'chart-figure' }, this.legend, this.canvas);
    liveCharts.add(this);
  }

  update(samples) {
    this.samples = samples;
    this.canvas.dataset.points = String(samples.length);
    const latest = samples[samples.length - 1];
    const values = this.series.map((s) => ({ s, value: latest?.[s.key] ?? null }));
    replace(
      this.legend,
      values.map(({ s, value }) =>
        h(
          'li',
          { dataset: { series: s.key } },
          h('span', { class: 'swatch', style: `background:${s.color}` }),
          `${s.label} `,
          h('strong', {}, value === null ? '–' : this.format(value)),
        ),
      ),
    );
    this.canvas.setAttribute(
      'aria-label',
      `${this.label}: ${values.map(({ s, value }) => `${s.label} ${value === null ? 'no data' : this.format(value)}`).join(', ')}`,
    );
    this.draw();
  }

  draw() {
    if (!whenAttached(this)) return;
    const { g, width } = prepare(this.canvas, LINE_CHART_HEIGHT);
    const left = 56;
    const right = width - 10;
    const top = 10;
    const bottom = LINE_CHART_HEIGHT - 24;
    const samples = this.samples;
    const end = samples.length > 0 ? samples[samples.length - 1].t : Date.now();
    // the window grows with the history, from a minute up to windowMs, so a fresh chart is not a sliver
    const span = Math.min(this.windowMs, Math.max(MIN_WINDOW_MS, samples.length > 0 ? end - samples[0].t : 0));
    const start = end - span;
    let max = 0;
    for (const sample of samples) for (const s of this.series) if (typeof sample[s.key] === 'number') max = Math.max(max, sample[s.key]);
    const ceiling = niceCeiling(max);
    const x = (t) => left + ((t - start) / span) * (right - left);
    const y = (v) => bottom - (v / ceiling) * (bottom - top);

    // grid and axis labels
    g.strokeStyle = GRID_COLOR;
    g.fillStyle = TEXT_COLOR;
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    const rows = gridIntervals(ceiling, this.whole);
    for (let i = 0; i <= rows; i++) {
      const value = (ceiling / rows) * i;
      const yy = Math.round(y(value)) + 0.5;
      g.beginPath();
      g.moveTo(left, yy);
      g.lineTo(right, yy);
      g.stroke();
      g.fillText(this.format(value), left - 6, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    const tick = TIME_TICKS_MS.find((step) => span / step <= 6) ?? TIME_TICKS_MS[TIME_TICKS_MS.length - 1];
    for (let ago = 0; ago <= span; ago += tick) {
      g.fillText(shortDuration(ago), Math.min(Math.max(x(end - ago), left + 12), right - 14), bottom + 6);
    }
    g.strokeStyle = AXIS_COLOR;
    g.beginPath();
    g.moveTo(left + 0.5, top);
    g.lineTo(left + 0.5, bottom + 0.5);
    g.lineTo(right, bottom + 0.5);
    g.stroke();

    if (samples.length === 0) {
      g.textAlign = 'center';
      g.textBaseline = 'middle';
      g.fillText('Waiting for data…', (left + right) / 2, (top + bottom) / 2);
      return;
    }
    g.lineWidth = 2;
    g.lineJoin = 'round';
    for (const s of this.series) {
      g.strokeStyle = s.color;
      g.fillStyle = s.color;
      g.beginPath();
      let drawing = false;
      let lone = null;
      for (const sample of samples) {
        const value = sample[s.key];
        if (typeof value !== 'number' || sample.t < start) {
          drawing = false;
          continue;
        }
        if (drawing) g.lineTo(x(sample.t), y(value));
        else g.moveTo(x(sample.t), y(value));
        lone = drawing ? null : [x(sample.t), y(value)];
        drawing = true;
      }
      g.stroke();
      // a single point has no line yet: mark it
      if (samples.length === 1 && lone !== null) {
        g.beginPath();
        g.arc(lone[0], lone[1], 3, 0, Math.PI * 2);
        g.fill();
      }
    }
  }
}

/** Horizontal stacked bars, one row per item: items [{ name, [series.key]: number }], drawn largest first. */
export class BarChart {
  constructor({ label, series, format, empty }) {
    this.label = label;
    this.series = series;
    this.format = format;
    this.empty = empty;
    this.items = [];
    this.drawPending = false;
    this.canvas = h('canvas', { role: 'img', 'aria-label': label, class: 'chart', dataset: { bars: '0' } });
    this.legend = h(
      'ul',
      { class: 'legend', 'aria-label': `${label} legend` },
      series.map((s) => h('li', {}, h('span', { class: 'swatch', style: `background:${s.color}` }), s.label)),
    );
    this.note = h('p', { class: 'chart-note' });
    this.element = h('figure', { class: 'chart-figure' }, this.legend, this.canvas, this.note);
    liveCharts.add(this);
  }

  update(items) {
    const total = (item) => this.series.reduce((sum, s) => sum + (Number(item[s.key]) || 0), 0);
    const sorted = [...items].sort((a, b) => total(b) - total(a) || String(a.name).localeCompare(String(b.name)));
    this.items = sorted.slice(0, MAX_BARS);
    this.canvas.dataset.bars = String(this.items.length);
    this.note.textContent = sorted.length > MAX_BARS ? `and ${sorted.length - MAX_BARS} more` : '';
    const summary = this.items.map((item) => `${item.name} ${this.series.map((s) => `${this.format(Number(item[s.key]) || 0)} ${s.label}`).join(' ')}`);
    this.canvas.setAttribute('aria-label', `${this.label}: ${summary.length === 0 ? this.empty : summary.join('; ')}`);
    this.draw();
  }

  draw() {
    if (!whenAttached(this)) return;
    const rows = Math.max(this.items.length, 1);
    const height = rows * BAR_ROW_HEIGHT + BAR_CHART_PADDING * 2 + 18;
    const { g, width } = prepare(this.canvas, height);
    g.textBaseline = 'middle';
    g.fillStyle = TEXT_COLOR;
    if (this.items.length === 0) {
      g.textAlign = 'center';
      g.fillText(this.empty, width / 2, height / 2);
      return;
    }
    const labelWidth = Math.min(Math.max(width * 0.28, 80), 240);
    const left = labelWidth + 12;
    const right = width - 70;
    const top = BAR_CHART_PADDING;
    let max = 0;
    for (const item of this.items)
      max = Math.max(
        max,
        this.series.reduce((sum, s) => sum + (Number(item[s.key]) || 0), 0),
      );
    const ceiling = niceCeiling(max);
    const scale = (v) => (v / ceiling) * (right - left);

    // vertical grid with the scale along the bottom
    g.strokeStyle = GRID_COLOR;
    g.lineWidth = 1;
    g.textAlign = 'center';
    const axisY = top + rows * BAR_ROW_HEIGHT;
    const intervals = gridIntervals(ceiling, true);
    for (let i = 0; i <= intervals; i++) {
      const xx = Math.round(left + scale((ceiling / intervals) * i)) + 0.5;
      g.beginPath();
      g.moveTo(xx, top);
      g.lineTo(xx, axisY);
      g.stroke();
      g.fillText(this.format((ceiling / intervals) * i), xx, axisY + 10);
    }
    this.items.forEach((item, row) => {
      const yy = top + row * BAR_ROW_HEIGHT;
      g.fillStyle = TEXT_COLOR;
      g.textAlign = 'right';
      g.fillText(ellipsize(g, String(item.name), labelWidth), labelWidth, yy + BAR_ROW_HEIGHT / 2);
      let xx = left;
      let sum = 0;
      for (const s of this.series) {
        const value = Number(item[s.key]) || 0;
        sum += value;
        const w = scale(value);
        g.fillStyle = s.color;
        g.fillRect(xx, yy + 5, w, BAR_ROW_HEIGHT - 10);
        xx += w;
      }
      g.fillStyle = TEXT_COLOR;
      g.textAlign = 'left';
      g.fillText(this.format(sum), xx + 6, yy + BAR_ROW_HEIGHT / 2);
    });
  }
}

/** `text` cut to fit `width` pixels with an ellipsis */
function ellipsize(g, text, width) {
  if (g.measureText(text).width <= width) return text;
  let cut = text.length;
  while (cut > 1 && g.measureText(text.slice(0, cut) + '…').width > width) cut--;
  return text.slice(0, cut) + '…';
}

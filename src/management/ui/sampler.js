// Polls the overview and the queue list while the user is signed in, whatever page is open, and keeps a
// rolling window of samples for the charts: message rates, total queued messages, and depth per queue.
import { NotAvailableError } from './api.js';

/** how often the dashboard polls, ms (RabbitMQ's UI defaults to 5 s; a little quicker reads better live) */
export const POLL_INTERVAL_MS = 3000;
/** how much history the charts show, ms */
export const WINDOW_MS = 3 * 60 * 1000;

/** the rates charted, each from message_stats.<stat>_details.rate (or the counter's change when only that is given) */
export const RATE_SERIES = [
  { key: 'publish', stat: 'publish', label: 'Publish', color: '#2f6fd6' },
  { key: 'deliver', stat: 'deliver_get', label: 'Deliver / get', color: '#2e9d5b' },
  { key: 'ack', stat: 'ack', label: 'Ack', color: '#d98a0b' },
];

export const DEPTH_SERIES = [
  { key: 'ready', label: 'Ready', color: '#2f6fd6' },
  { key: 'unacked', label: 'Unacked', color: '#d2553b' },
];

export function queueKey(vhost, name) {
  return `${vhost}\u0000${name}`;
}

function number(value) {
  const n = Number(value);
  return value === undefined || value === null || !Number.isFinite(n) ? null : n;
}

/** rates from message_stats: `*_details.rate` when given, else the counters' change since `previous` */
export function ratesOf(stats, previous, seconds) {
  const rates = {};
  for (const s of RATE_SERIES) {
    const given = number(stats?.[`${s.stat}_details`]?.rate);
    const counter = number(stats?.[s.stat]);
    const before = previous?.[s.stat];
    if (given !== null) rates[s.key] = given;
    else if (counter !== null && typeof before === 'number' && seconds > 0) rates[s.key] = Math.max(0, (counter - before) / seconds);
    else rates[s.key] = counter !== null ? 0 : null;
  }
  return rates;
}

function counters(stats) {
  const result = {};
  for (const s of RATE_SERIES) {
    const n = number(stats?.[s.stat]);
    if (n !== null) result[s.stat] = n;
  }
  return result;
}

export class Sampler {
  constructor(api) {
    this.api = api;
    this.overview = null;
    this.overviewError = null;
    this.queues = null;
    this.queuesError = null;
    /** [{ t, publish, deliver, ack }] */
    this.rates = [];
    /** [{ t, ready, unacked }] over all queues */
    this.totals = [];
    /** queueKey → [{ t, ready, unacked, publish, deliver, ack }]: depth and message rates of each queue, per sample */
    this.queueHistory = new Map();
    this.previous = null;
    this.listeners = new Set();
  }

  /** the queue's row in the last sample (from GET /api/queues), or null */
  queue(vhost, name) {
    return this.queues?.find((q) => q.vhost === vhost && q.name === name) ?? null;
  }

  /** call `fn` after every sample; returns the unsubscribe function */
  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async sample() {
    const t = Date.now();
    const [overview, queues] = await Promise.allSettled([this.api.get('/api/overview'), this.api.get('/api/queues')]);
    this.overview = overview.status === 'fulfilled' ? overview.value : null;
    this.overviewError = overview.status === 'rejected' ? overview.reason : null;
    this.queues = queues.status === 'fulfilled' && Array.isArray(queues.value) ? queues.value : null;
    this.queuesError = queues.status === 'rejected' ? queues.reason : null;
    if (this.overviewError !== null && !(this.overviewError instanceof NotAvailableError)) throw this.overviewError;

    const stats = this.overview?.message_stats;
    const seconds = this.previous === null ? 0 : (t - this.previous.t) / 1000;
    this.rates.push({ t, ...ratesOf(stats, this.previous?.counters, seconds) });
    this.previous = { t, counters: counters(stats) };

    const queueTotals = this.overview?.queue_totals;
    let ready = number(queueTotals?.messages_ready);
    let unacked = number(queueTotals?.messages_unacknowledged);
    if ((ready === null || unacked === null) && this.queues !== null) {
      ready = this.queues.reduce((sum, q) => sum + (number(q.messages_ready) ?? 0), 0);
      unacked = this.queues.reduce((sum, q) => sum + (number(q.messages_unacknowledged) ?? 0), 0);
    }
    this.totals.push({ t, ready, unacked });

    if (this.queues !== null) {
      const seen = new Set();
      for (const q of this.queues) {
        const key = queueKey(q.vhost, q.name);
        seen.add(key);
        let history = this.queueHistory.get(key);
        if (history === undefined) this.queueHistory.set(key, (history = []));
        // the queue's rates as the broker sampled them (message_stats.*_details), from the same poll as its depth
        history.push({ t, ready: number(q.messages_ready), unacked: number(q.messages_unacknowledged), ...ratesOf(q.message_stats, null, 0) });
        trim(history, t);
      }
      for (const key of [...this.queueHistory.keys()]) if (!seen.has(key)) this.queueHistory.delete(key);
    }
    trim(this.rates, t);
    trim(this.totals, t);
    for (const fn of this.listeners) fn();
  }
}

/** drop samples older than the window (one extra is kept so the line reaches the left edge) */
function trim(samples, now) {
  while (samples.length > 2 && samples[1].t < now - WINDOW_MS) samples.shift();
}

/**
 * The Prometheus text exposition format (0.0.4), as small string helpers shared by the metric writers
 * (metrics.ts, metrics-rabbitmq.ts, metrics-kafka.ts, metrics-detailed.ts).
 */

/** The content type Prometheus expects for the text format. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Rows drawn between two pieces while a long loop only gathers or writes (the HTTP writer looks at its clock
 * at each piece it is given, so a loop that yields nothing would hold the event loop for all 100,000 queues).
 */
export const ROWS_PER_YIELD = 256;

export type MetricType = 'gauge' | 'counter' | 'histogram' | 'untyped';

/** The lines of the exposition: each metric family once, with HELP and TYPE, then its samples. */
export function family(name: string, help: string, type: MetricType = 'gauge'): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
}

/** One sample line; `labels` is already formatted (`{a="b"}`) or ''. */
export function sample(name: string, labels: string, value: number): string {
  return `${name}${labels} ${formatValue(value)}\n`;
}

/** A family of one unlabelled sample. */
export function single(name: string, help: string, value: number, type: MetricType = 'gauge'): string {
  return family(name, help, type) + sample(name, '', value);
}

/**
 * A histogram from per-bucket counts (not cumulative) over ascending upper bounds, `le` written as given in
 * `leLabels` (one per bound; +Inf follows), with `labels` (formatted, without braces, or '') on every sample.
 */
export function histogramSamples(name: string, leLabels: readonly string[], counts: ArrayLike<number>, count: number, sum: number, labels = ''): string {
  const prefix = labels === '' ? '{' : `{${labels},`;
  let text = '';
  let cumulative = 0;
  for (let i = 0; i < leLabels.length; i++) {
    cumulative += counts[i]!;
    text += sample(`${name}_bucket`, `${prefix}le="${leLabels[i]!}"}`, cumulative);
  }
  text += sample(`${name}_bucket`, `${prefix}le="+Inf"}`, count);
  text += sample(`${name}_sum`, labels === '' ? '' : `{${labels}}`, sum);
  text += sample(`${name}_count`, labels === '' ? '' : `{${labels}}`, count);
  return text;
}

/** a histogram from per-bucket counts over ascending upper bounds in ms, reported in seconds */
export function histogram(name: string, help: string, boundsMs: ArrayLike<number>, counts: ArrayLike<number>, count: number, sumMs: number): string {
  const le: string[] = [];
  for (let i = 0; i < boundsMs.length; i++) le.push(String(boundsMs[i]! / 1000));
  return family(name, help, 'histogram') + histogramSamples(name, le, counts, count, sumMs / 1000);
}

export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function formatLabels(labels: Record<string, string | number>): string {
  return (
    '{' +
    Object.entries(labels)
      .map(([k, v]) => `${k}="${escapeLabel(String(v))}"`)
      .join(',') +
    '}'
  );
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** One labelled object of a scrape (a queue, a channel, a partition): its labels formatted once. */
export interface Row<T> {
  /** `{a="b",...}` */
  readonly labels: string;
  readonly item: T;
}

/** a family's samples over `rows`, in pieces of ROWS_PER_YIELD rows */
export function* perRow<T>(name: string, rows: readonly Row<T>[], read: (item: T) => number): Generator<string> {
  let text = '';
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    text += sample(name, row.labels, read(row.item));
    if (i % ROWS_PER_YIELD === ROWS_PER_YIELD - 1) {
      yield text;
      text = '';
    }
  }
  yield text;
}
